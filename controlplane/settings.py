"""Switchboard settings, read from environment variables.

Every variable is listed in `.env.example`. A malformed value stops start-up with a
message naming the variable (environs raises EnvValidationError, which we turn into
ImproperlyConfigured). With nothing set you get the embedded default: a SQLite file,
local-memory cache and Celery tasks running eagerly in-process.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import plotly
from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvValidationError

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()


def _list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env.str(name, default).split(",") if item.strip()]


try:
    DEBUG = env.bool("DEBUG", False)
    SECRET_KEY = env.str("SECRET_KEY", "")
    DATABASES = {
        "default": env.dj_db_url(
            "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'switchboard.sqlite3'}"
        )
    }
    REDIS_URL = env.str("REDIS_URL", "") or None
    ALLOWED_HOSTS = _list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
    CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS", "")
    LOG_LEVEL = env.str("LOG_LEVEL", "INFO").upper()
    STATIC_ROOT = env.path("STATIC_ROOT", BASE_DIR / "staticfiles")
    # Which overlay of config/environments/<name>.yaml the importer marks active.
    SWITCHBOARD_ENVIRONMENT = env.str("SWITCHBOARD_ENVIRONMENT", "")
    # Largest request body the API accepts (bytes).
    SWITCHBOARD_MAX_BODY_BYTES = env.int(
        "SWITCHBOARD_MAX_BODY_BYTES", 1_048_576, validate=lambda n: n > 0
    )
    # Circuit breaker: this many consecutive failures skip a model for this many seconds.
    SWITCHBOARD_CIRCUIT_FAILURES = env.int(
        "SWITCHBOARD_CIRCUIT_FAILURES", 3, validate=lambda n: n > 0
    )
    SWITCHBOARD_CIRCUIT_SECONDS = env.int(
        "SWITCHBOARD_CIRCUIT_SECONDS", 30, validate=lambda n: n > 0
    )
    # A 429 without Retry-After cools the model down this long (seconds).
    SWITCHBOARD_DEFAULT_COOLDOWN_SECONDS = env.int(
        "SWITCHBOARD_DEFAULT_COOLDOWN_SECONDS", 30, validate=lambda n: n > 0
    )
    # Answers containing one of these (case-insensitive) are refusals; empty: seed 001's list.
    SWITCHBOARD_REFUSAL_PATTERNS = [
        p.strip() for p in env.str("SWITCHBOARD_REFUSAL_PATTERNS", "").split("|") if p.strip()
    ]
    # Streams: a model that sends no content within this many seconds gives way to the next.
    SWITCHBOARD_FIRST_TOKEN_TIMEOUT_SECONDS = env.float(
        "SWITCHBOARD_FIRST_TOKEN_TIMEOUT_SECONDS", 10.0, validate=lambda n: n > 0
    )
    # How long a cached answer is served (strategies with cache_responses), in seconds.
    SWITCHBOARD_RESPONSE_CACHE_SECONDS = env.int(
        "SWITCHBOARD_RESPONSE_CACHE_SECONDS", 300, validate=lambda n: n > 0
    )
    # The longest an override (strategy, model, task, force-local) may be set for, in seconds.
    SWITCHBOARD_MAX_OVERRIDE_SECONDS = env.int(
        "SWITCHBOARD_MAX_OVERRIDE_SECONDS", 7 * 24 * 3600, validate=lambda n: n > 0
    )
    # Keep whole prompts in the audit log (off: only a PII-masked excerpt is kept).
    SWITCHBOARD_STORE_FULL_PROMPTS = env.bool("SWITCHBOARD_STORE_FULL_PROMPTS", False)
    # The most route requests one POST /api/route/batch may carry.
    SWITCHBOARD_BATCH_MAX_REQUESTS = env.int(
        "SWITCHBOARD_BATCH_MAX_REQUESTS", 100, validate=lambda n: n > 0
    )
    # json (one JSON object a line, for log shippers) or plain; json unless DEBUG is on.
    LOG_FORMAT = env.str("LOG_FORMAT", "plain" if DEBUG else "json").lower()
    # Health probes of every enabled model's endpoint: how often, and how long one may take.
    SWITCHBOARD_HEALTH_PROBE_SECONDS = env.int(
        "SWITCHBOARD_HEALTH_PROBE_SECONDS", 60, validate=lambda n: n > 0
    )
    SWITCHBOARD_HEALTH_PROBE_TIMEOUT_SECONDS = env.float(
        "SWITCHBOARD_HEALTH_PROBE_TIMEOUT_SECONDS", 5.0, validate=lambda n: n > 0
    )
    # Decisions older than this many days are deleted (0: keep them forever), after being
    # written to SWITCHBOARD_DECISION_ARCHIVE_DIR (one gzip JSON-lines file a day) if set.
    SWITCHBOARD_DECISION_RETENTION_DAYS = env.int(
        "SWITCHBOARD_DECISION_RETENTION_DAYS", 90, validate=lambda n: n >= 0
    )
    SWITCHBOARD_DECISION_ARCHIVE_DIR = env.str("SWITCHBOARD_DECISION_ARCHIVE_DIR", "") or None
    # Batch jobs finished (done, failed or cancelled) longer ago than this many days are
    # deleted with their items' results (0: keep them forever).
    SWITCHBOARD_BATCH_RETENTION_DAYS = env.int(
        "SWITCHBOARD_BATCH_RETENTION_DAYS", 30, validate=lambda n: n >= 0
    )
    # Web and Celery worker processes hand freed heap back to the OS this often (glibc's
    # malloc_trim; 0 turns it off). See controlplane/heap_trim.py for why.
    SWITCHBOARD_MALLOC_TRIM_SECONDS = env.float(
        "SWITCHBOARD_MALLOC_TRIM_SECONDS", 60.0, validate=lambda n: n >= 0
    )
    # Per-minute decision rollups are kept this many days (hour and day rollups are kept).
    SWITCHBOARD_ROLLUP_MINUTE_RETENTION_DAYS = env.int(
        "SWITCHBOARD_ROLLUP_MINUTE_RETENTION_DAYS", 3, validate=lambda n: n >= 1
    )
    # /metrics: a Bearer token it requires (when set), and the client networks it answers.
    SWITCHBOARD_METRICS_TOKEN = env.str("SWITCHBOARD_METRICS_TOKEN", "")
    SWITCHBOARD_METRICS_ALLOWED_NETWORKS = _list(
        "SWITCHBOARD_METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128"
    )
except EnvValidationError as exc:  # name the variable, stop start-up
    raise ImproperlyConfigured(str(exc)) from exc

if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        f'Environment variable "REDIS_URL" invalid: expected redis://host:port/db, got {REDIS_URL!r}.'
    )
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f'Environment variable "LOG_LEVEL" invalid: {LOG_LEVEL!r} is not one of '
        "DEBUG, INFO, WARNING, ERROR, CRITICAL."
    )
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(
        f'Environment variable "LOG_FORMAT" invalid: {LOG_FORMAT!r} is not json or plain.'
    )
try:
    SWITCHBOARD_METRICS_NETWORKS = [
        ipaddress.ip_network(net, strict=False) for net in SWITCHBOARD_METRICS_ALLOWED_NETWORKS
    ]
except ValueError as exc:
    raise ImproperlyConfigured(
        f'Environment variable "SWITCHBOARD_METRICS_ALLOWED_NETWORKS" invalid: {exc} '
        "(expected comma-separated CIDRs, e.g. 127.0.0.1/32,10.0.0.0/8)."
    ) from exc
if not SWITCHBOARD_METRICS_NETWORKS and not SWITCHBOARD_METRICS_TOKEN:
    # Spend and budgets are not for anyone who can reach the port.
    raise ImproperlyConfigured(
        'Environment variable "SWITCHBOARD_METRICS_ALLOWED_NETWORKS" is empty and '
        "SWITCHBOARD_METRICS_TOKEN is unset: /metrics would be open to everyone. Set a token, "
        "or list the networks allowed (0.0.0.0/0,::/0 for any)."
    )

if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            'Environment variable "SECRET_KEY" is required when DEBUG is off. '
            "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    # Only ever used with DEBUG on, on a developer's machine.
    SECRET_KEY = "dev-insecure-switchboard-secret-key-do-not-use-in-production"  # noqa: S105

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections; no health-check query per request (a broken connection
    # is dropped after its error anyway).
    DATABASES["default"]["CONN_MAX_AGE"] = 60

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's JS/CSS as our own static files: no CDN
    "django_htmx",
    "template_partials",
    "routing",
    "agents",
]

MIDDLEWARE = [
    # First, so every log line of the request carries its request id.
    "controlplane.logging.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "controlplane.urls"
WSGI_APPLICATION = "controlplane.wsgi.application"
ASGI_APPLICATION = "controlplane.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "routing.dashboard.context.dashboard",
            ],
        },
    }
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = False

STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # plotly.js as the plotly package ships it: served from here, never from a CDN.
    ("vendor/plotly", Path(plotly.__file__).resolve().parent / "package_data"),
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "controlplane.lib.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "switchboard",
            # Short timeouts: the cache holds shared hints (cooldowns, counters), and a
            # slow or absent Redis must not hold a request up (see resilient_cache).
            # 0.1 s proved too tight at saturation (GIL waits count against it).
            "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.25},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: a Redis broker in production; without REDIS_URL tasks run eagerly in-process,
# so a fresh checkout needs no broker.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Workers log through LOGGING's handlers (JSON lines) instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Every periodic schedule, in one place.
CELERY_BEAT_SCHEDULE = {
    # Overrides already stop applying at their expiry; this records that they ended.
    "expire-overrides": {"task": "routing.tasks.expire_overrides", "schedule": 30.0},
    # Probe every enabled model's endpoint; a failure cools the model down for everyone.
    "probe-models": {
        "task": "routing.tasks.probe_models",
        "schedule": float(SWITCHBOARD_HEALTH_PROBE_SECONDS),
    },
    # Archive (optionally) and delete decisions past SWITCHBOARD_DECISION_RETENTION_DAYS.
    "prune-decisions": {"task": "routing.tasks.prune_decisions", "schedule": 3600.0},
    # Roll decisions up into per-minute, hourly and daily rows for the dashboard.
    "rollup-decisions": {"task": "routing.tasks.rollup_decisions", "schedule": 60.0},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "routing.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The OpenAPI schema (/api/schema/) and its docs page (/api/docs/): drf-spectacular.
# Views name drf-spectacular's AutoSchema themselves (routing.api.base).
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": (
        "The control plane of Switchboard: route requests (/api/route and the OpenAI- and "
        "Anthropic-compatible /v1 endpoints), steer routing at run time, manage the registry, "
        "and read, explain, replay and simulate decisions.\n\n"
        "Services authenticate with an API key (`Authorization: Bearer sb_...`, or "
        "`x-api-key`); people with their session (CSRF token on writes). Every /api error "
        "is one envelope, `ErrorEnvelope`; /v1 errors are OpenAI or Anthropic error objects."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/(api|v1)/",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set that several fields share.
    "ENUM_NAME_OVERRIDES": {
        "ErrorCodeEnum": "routing.api.schema.ERROR_CODES",
        "ModelTypeEnum": "routing.choices.ModelType",
        "BudgetScopeEnum": "routing.choices.BudgetScope",
        "RuleScopeEnum": "routing.choices.RuleScope",
        "PrivacyLevelEnum": "routing.choices.PrivacyLevel",
        "ListObjectEnum": ["list"],
        "AssistantRoleEnum": ["assistant"],
    },
    # The docs page loads Swagger UI from our static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl: no badge fetched from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# Django refuses bodies above this before the API sees them; keep it above our own limit
# so the API answers 413 in its envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = SWITCHBOARD_MAX_BODY_BYTES + 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "controlplane.logging.json_formatter"},
    },
    # Adds the decision id and request id of the request being served to every record.
    "filters": {"log_context": {"()": "controlplane.logging.LogContextFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["log_context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # httpx logs every upstream call at INFO; the decision log already records them.
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
