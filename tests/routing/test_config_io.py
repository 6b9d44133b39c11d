"""Configuration as code: importing the seeds' YAML formats, exporting them back, and the
management commands around both.

YAML is written into `tmp_path` from strings in this module; the seeds' snippets below
are verbatim, stray trailing spaces included. What an import must refuse, and how it
says so, is in test_config_import_errors.py, which reuses the helpers defined here.
"""

from __future__ import annotations

import io
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db.models import Model, ProtectedError

from agents.models import Agent
from routing.config_io import ImportResult, export_config, import_config
from routing.models import (
    Budget,
    ChangeLogEntry,
    EnvironmentProfile,
    FallbackStep,
    LLMModel,
    Provider,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    SessionTokenBudget,
    Strategy,
    TaskRoute,
)
from routing.services import config_revision_current

pytestmark = pytest.mark.django_db

EXAMPLE = Path(settings.BASE_DIR) / "config"
MANAGE_PY = Path(settings.BASE_DIR) / "manage.py"


# Helpers (test_config_import_errors.py imports them too)


def write_config(directory: Path, files: dict[str, str]) -> Path:
    """Write {relative path: YAML text} into `directory` (created) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def exported_files(directory: Path) -> dict[str, bytes]:
    """Export into `directory` and return every file written, by relative path."""
    export_config(directory)
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*.yaml"))
    }


# The rows that make up the configuration (not audit, spend, sessions or keys).
CONFIGURATION_MODELS: tuple[type[Model], ...] = (
    Provider,
    LLMModel,
    Agent,
    Strategy,
    RoutingSettings,
    RoutingFactor,
    RoutingRule,
    TaskRoute,
    FallbackStep,
    Budget,
    SessionTokenBudget,
    EnvironmentProfile,
)
_BOOKKEEPING_FIELDS = frozenset({"id", "created_at", "updated_at"})


def configuration_dump() -> dict[str, list[dict[str, Any]]]:
    """Every configuration row as plain values, without ids or timestamps and with each
    foreign key as the natural key of its target (a provider's name, a model's, agent's or
    strategy's key), so the contents of two databases can be compared without trusting the
    exporter."""
    dump: dict[str, list[dict[str, Any]]] = {}
    for model in CONFIGURATION_MODELS:
        rows = []
        relations = [field.name for field in model._meta.concrete_fields if field.is_relation]
        for obj in model._default_manager.select_related(*relations):
            row: dict[str, Any] = {}
            for field in model._meta.concrete_fields:
                if field.name in _BOOKKEEPING_FIELDS:
                    continue
                value = getattr(obj, field.name)
                row[field.name] = str(value) if field.is_relation and value is not None else value
            rows.append(row)
        dump[model._meta.label] = sorted(rows, key=repr)
    return dump


def _app_models() -> list[type[Model]]:
    return [m for app in ("routing", "agents") for m in apps.get_app_config(app).get_models()]


def database_state() -> dict[str, Any]:
    """Row counts of every routing and agents table (the change log among them), the
    config revision, and the configuration's contents."""
    return {
        "rows": {m._meta.label: m._default_manager.count() for m in _app_models()},
        "config revision": config_revision_current(),
        "configuration": configuration_dump(),
    }


def empty_database() -> None:
    """Delete every routing and agents row, retrying the tables a PROTECT foreign key
    holds until what points at them is gone. (`flush` would TRUNCATE, which PostgreSQL
    refuses inside the test's transaction while deferred foreign-key checks are pending.)"""
    remaining = _app_models()
    while remaining:
        blocked = []
        for model in remaining:
            try:
                model._default_manager.all().delete()
            except ProtectedError:
                blocked.append(model)
        if len(blocked) == len(remaining):
            raise AssertionError(f"cannot empty {blocked}: they protect each other")
        remaining = blocked


def round_trip(
    files: dict[str, str], tmp_path: Path
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, bytes]]:
    """Import `files`, export them, empty the database and import the export. Returns the
    configuration as the first import left it, and the export."""
    import_config(write_config(tmp_path / "original", files))
    imported = configuration_dump()
    exported = exported_files(tmp_path / "exported")
    empty_database()
    import_config(tmp_path / "exported")
    return imported, exported


@pytest.fixture
def example() -> ImportResult:
    return import_config(EXAMPLE)


# The seeds' own snippets, verbatim. Seed 002's two environment files share one block
# in the seed, each under a comment naming its file.

SEED_002_MODELS = """\
models:
  # Cloud Models
  claude-3-opus:
    provider: anthropic
    type: cloud
    model_id: claude-3-opus-20240229
    capabilities:
      - code_generation
      - architecture_design
      - complex_reasoning
    cost_per_1k_tokens:
      input: 0.015
      output: 0.075
    rate_limits:
      requests_per_minute: 50
      tokens_per_minute: 100000
    
  gpt-4-turbo:
    provider: openai
    type: cloud
    model_id: gpt-4-turbo-preview
    capabilities:
      - code_generation
      - general_reasoning
    cost_per_1k_tokens:
      input: 0.01
      output: 0.03
    rate_limits:
      requests_per_minute: 60
      tokens_per_minute: 150000

  # Local Models
  llama-3-70b:
    provider: local
    type: local
    model_path: /models/llama-3-70b
    endpoint: http://localhost:8080
    capabilities:
      - code_generation
      - general_reasoning
    resource_requirements:
      gpu_memory_gb: 48
      cpu_cores: 16
    performance:
      tokens_per_second: 30
      
  deepseek-coder-33b:
    provider: local
    type: local
    model_path: /models/deepseek-coder-33b
    endpoint: http://localhost:8081
    capabilities:
      - code_generation
      - code_completion
    resource_requirements:
      gpu_memory_gb: 24
      cpu_cores: 8
    performance:
      tokens_per_second: 45

  qwen-2-72b:
    provider: local
    type: local
    model_path: /models/qwen-2-72b
    endpoint: http://localhost:8082
    capabilities:
      - general_reasoning
      - multilingual
    resource_requirements:
      gpu_memory_gb: 48
      cpu_cores: 16
    performance:
      tokens_per_second: 25
"""  # noqa: W293

SEED_002_AGENTS = """\
agents:
  cto_agent:
    name: "CTO Agent"
    description: "Handles architecture decisions and technical leadership"
    model_preferences:
      primary: claude-3-opus          # Best for complex architectural decisions
      fallback: gpt-4-turbo          # Fallback option
      local_alternative: llama-3-70b  # For privacy-sensitive tasks
    routing_rules:
      - condition: "task.privacy_level == 'high'"
        model: llama-3-70b
      - condition: "task.complexity > 8"
        model: claude-3-opus
      - condition: "cost_limit_reached"
        model: llama-3-70b
    capabilities_required:
      - architecture_design
      - complex_reasoning
      - code_generation

  backend_agent:
    name: "Backend Developer Agent"
    description: "Implements backend services and APIs"
    model_preferences:
      primary: deepseek-coder-33b     # Optimized for coding
      fallback: claude-3-opus         # For complex problems
      budget_mode: llama-3-70b        # Cost-effective option
    routing_rules:
      - condition: "task.type == 'code_generation'"
        model: deepseek-coder-33b
      - condition: "task.complexity > 6"
        model: claude-3-opus
      - condition: "budget_mode == true"
        model: llama-3-70b
    capabilities_required:
      - code_generation
      - code_completion

  frontend_agent:
    name: "Frontend Developer Agent"
    description: "Builds user interfaces and frontend logic"
    model_preferences:
      primary: gpt-4-turbo
      fallback: claude-3-opus
      local_alternative: llama-3-70b
    routing_rules:
      - condition: "task.involves_ui_design"
        model: gpt-4-turbo
      - condition: "task.privacy_level == 'high'"
        model: llama-3-70b
    capabilities_required:
      - code_generation
      - ui_design

  qa_agent:
    name: "QA Engineer Agent"
    description: "Tests code and ensures quality"
    model_preferences:
      primary: llama-3-70b            # Cost-effective for testing
      fallback: gpt-4-turbo
    routing_rules:
      - condition: "task.type == 'test_generation'"
        model: llama-3-70b
      - condition: "task.requires_reasoning"
        model: gpt-4-turbo
    capabilities_required:
      - code_analysis
      - test_generation
"""

SEED_002_ROUTING = """\
routing:
  strategies:
    cost_optimized:
      description: "Minimize costs while maintaining quality"
      rules:
        - prefer_local_models: true
        - cloud_budget_per_day: 100.00
        - fallback_to_cloud_threshold: 
            complexity: 7
            confidence: 0.6
    
    performance_optimized:
      description: "Maximum speed and quality"
      rules:
        - prefer_cloud_models: true
        - parallel_requests: true
        - cache_responses: true
        
    privacy_first:
      description: "All processing on local models"
      rules:
        - allow_cloud_models: false
        - required_model_type: local
        
    balanced:
      description: "Balance between cost, performance, and privacy"
      rules:
        - cloud_for_complex_tasks: true
        - local_for_routine_tasks: true
        - dynamic_routing: true

  global_rules:
    - name: "rate_limit_protection"
      condition: "model.rate_limit_approaching"
      action: "switch_to_fallback"
      
    - name: "cost_circuit_breaker"
      condition: "daily_cost > budget * 0.8"
      action: "switch_to_local_only"
      
    - name: "privacy_enforcement"
      condition: "data.contains_pii"
      action: "force_local_model"
      
    - name: "quality_assurance"
      condition: "task.critical and model.type == 'local'"
      action: "require_cloud_verification"

  routing_factors:
    - name: "task_complexity"
      weight: 0.3
      calculation: "based_on_token_count_and_requirements"
      
    - name: "cost_efficiency"
      weight: 0.25
      calculation: "cost_per_token * estimated_tokens"
      
    - name: "privacy_requirements"
      weight: 0.2
      calculation: "data_sensitivity_score"
      
    - name: "performance_needs"
      weight: 0.15
      calculation: "required_response_time"
      
    - name: "model_availability"
      weight: 0.1
      calculation: "current_load_and_rate_limits"
"""  # noqa: W291, W293

SEED_002_PRODUCTION = """\
# config/environments/production.yaml
routing:
  global_overrides:
    max_cloud_spend_per_day: 500.00
    require_local_for_pii: true
"""

SEED_002_DEVELOPMENT = """\
# config/environments/development.yaml  
routing:
  global_overrides:
    force_local_models: true  # Save costs in dev
    verbose_routing_logs: true
"""  # noqa: W291

SEED_003_LLM_ROUTING = """\
# LLM Routing Configuration

providers:
  local:
    ollama:
      base_url: "http://localhost:11434"
      default_model: "llama3.1:8b"
      models:
        - llama3.1:8b
        - llama3.1:70b
        - deepseek-coder:6.7b
        - deepseek-coder:33b
        - codellama:34b
        - mistral:7b
        - nomic-embed-text
    
    lmstudio:
      base_url: "http://localhost:1234/v1"
      default_model: "local-model"
  
  fast_cloud:
    groq:
      api_key: "${GROQ_API_KEY}"
      default_model: "llama-3.1-70b-versatile"
      rate_limit: 30  # requests per minute
    
    together:
      api_key: "${TOGETHER_API_KEY}"
      default_model: "meta-llama/Llama-3-70b-chat-hf"
  
  premium:
    anthropic:
      api_key: "${ANTHROPIC_API_KEY}"
      models:
        reasoning: "claude-sonnet-4-20250514"
        complex: "claude-sonnet-4-20250514"
    
    openai:
      api_key: "${OPENAI_API_KEY}"
      models:
        default: "gpt-4o"
        reasoning: "o1-preview"

routing_rules:
  # Task type -> provider mapping
  reasoning:
    simple: ["ollama", "groq"]
    medium: ["groq", "anthropic"]
    complex: ["anthropic", "openai"]
  
  code_generation:
    simple: ["ollama:deepseek-coder:6.7b", "groq"]
    medium: ["ollama:deepseek-coder:33b", "anthropic"]
    complex: ["anthropic", "openai"]
  
  classification:
    all: ["ollama", "groq"]
  
  embedding:
    all: ["ollama:nomic-embed-text"]
  
  summarization:
    short: ["ollama", "groq"]
    long: ["anthropic"]  # Needs 200k context

cost_limits:
  daily_budget: 10.0  # USD
  warning_threshold: 0.8  # 80% of budget
  
  provider_limits:
    anthropic:
      daily: 5.0
      per_request: 0.50
    openai:
      daily: 5.0
      per_request: 0.50

fallback_chain:
  # If primary fails, try these in order
  - ollama
  - groq
  - anthropic
  - openai
"""  # noqa: W293

SEED_002 = {
    "models.yaml": SEED_002_MODELS,
    "agents.yaml": SEED_002_AGENTS,
    "routing.yaml": SEED_002_ROUTING,
    "environments/production.yaml": SEED_002_PRODUCTION,
    "environments/development.yaml": SEED_002_DEVELOPMENT,
}
SEED_003 = {"llm_routing.yaml": SEED_003_LLM_ROUTING}


# The example configuration (config/)

EXAMPLE_MODEL_KEYS = (
    "claude-3-opus",
    "claude-sonnet",
    "gpt-4-turbo",
    "gpt-4o",
    "groq-llama-3.1-70b",
    "llama-3-70b",
    "deepseek-coder-33b",
    "qwen-2-72b",
)

EXAMPLE_AGENT_RULES = {
    "cto_agent": [
        ("task.privacy_level == 'high'", "llama-3-70b"),
        ("task.complexity > 8", "claude-3-opus"),
        ("cost_limit_reached", "llama-3-70b"),
    ],
    "backend_agent": [
        ("task.type == 'code_generation'", "deepseek-coder-33b"),
        ("task.complexity > 6", "claude-3-opus"),
        ("budget_mode == true", "llama-3-70b"),
    ],
    "frontend_agent": [
        ("task.involves_ui_design", "gpt-4-turbo"),
        ("task.privacy_level == 'high'", "llama-3-70b"),
    ],
    "qa_agent": [
        ("task.type == 'test_generation'", "llama-3-70b"),
        ("task.requires_reasoning", "gpt-4-turbo"),
    ],
}

STRATEGY_PARAMETERS = (
    "prefer_local",
    "prefer_cloud",
    "allow_cloud",
    "required_model_type",
    "cloud_budget_per_day",
    "complexity_threshold",
    "confidence_threshold",
    "parallel_requests",
    "cache_responses",
    "cloud_for_complex_tasks",
    "local_for_routine_tasks",
    "dynamic_routing",
)

# Parameters each strategy sets; every other parameter must stay unset.
EXAMPLE_STRATEGIES: dict[str, dict[str, Any]] = {
    "cost_optimized": {
        "prefer_local": True,
        "cloud_budget_per_day": Decimal("100"),
        "complexity_threshold": 7,
        "confidence_threshold": 0.6,
    },
    "performance_optimized": {
        "prefer_cloud": True,
        "parallel_requests": True,
        "cache_responses": True,
    },
    "privacy_first": {"allow_cloud": False, "required_model_type": "local"},
    "balanced": {
        "cloud_for_complex_tasks": True,
        "local_for_routine_tasks": True,
        "dynamic_routing": True,
    },
}

EXAMPLE_GLOBAL_RULES = [
    ("rate_limit_protection", "model.rate_limit_approaching", "switch_to_fallback"),
    # Kept as written, although the engine treats it like force_local_model.
    ("cost_circuit_breaker", "daily_cost > budget * 0.8", "switch_to_local_only"),
    ("privacy_enforcement", "data.contains_pii", "force_local_model"),
    ("quality_assurance", "task.critical and model.type == 'local'", "require_cloud_verification"),
]

EXAMPLE_FACTORS = [
    ("task_complexity", 0.3, "based_on_token_count_and_requirements"),
    ("cost_efficiency", 0.25, "cost_per_token * estimated_tokens"),
    ("privacy_requirements", 0.2, "data_sensitivity_score"),
    ("performance_needs", 0.15, "required_response_time"),
    ("model_availability", 0.1, "current_load_and_rate_limits"),
]

# (task type, band, position, provider, model key or None for "the provider's choice")
EXAMPLE_TASK_ROUTES = [
    ("classification", "all", 0, "simulated", None),
    ("classification", "all", 1, "groq", None),
    ("code_generation", "complex", 0, "anthropic", None),
    ("code_generation", "complex", 1, "openai", None),
    ("code_generation", "medium", 0, "simulated", "simulated:deepseek-coder:33b"),
    ("code_generation", "medium", 1, "anthropic", None),
    ("code_generation", "simple", 0, "simulated", "simulated:deepseek-coder:6.7b"),
    ("code_generation", "simple", 1, "groq", None),
    ("embedding", "all", 0, "simulated", "simulated:nomic-embed-text"),
    ("reasoning", "complex", 0, "anthropic", None),
    ("reasoning", "complex", 1, "openai", None),
    ("reasoning", "medium", 0, "groq", None),
    ("reasoning", "medium", 1, "anthropic", None),
    ("reasoning", "simple", 0, "simulated", None),
    ("reasoning", "simple", 1, "groq", None),
    ("summarization", "long", 0, "anthropic", None),
    ("summarization", "short", 0, "simulated", None),
    ("summarization", "short", 1, "groq", None),
]


def _task_routes() -> list[tuple[str, str, int, str, str | None]]:
    routes = TaskRoute.objects.select_related("provider", "model").order_by(
        "task_type", "band", "position"
    )
    return [
        (r.task_type, r.band, r.position, r.provider.name, r.model and r.model.key) for r in routes
    ]


def _budgets() -> dict[tuple[str, str, str], tuple[Decimal | None, Decimal | None, float]]:
    return {
        (b.scope, b.target_key, b.period): (
            b.limit_usd,
            b.per_request_limit_usd,
            b.warning_threshold,
        )
        for b in Budget.objects.select_related("agent", "provider", "model")
    }


def _fallback_chain() -> list[str]:
    return [
        s.provider.name
        for s in FallbackStep.objects.select_related("provider").order_by("position")
    ]


def test_the_example_configuration_creates_the_seed_models_with_their_prices_and_limits(
    example: ImportResult,
) -> None:
    assert set(EXAMPLE_MODEL_KEYS) <= set(LLMModel.objects.values_list("key", flat=True))
    opus = LLMModel.objects.select_related("provider").get(key="claude-3-opus")
    assert (opus.provider.name, opus.type, opus.model_id) == (
        "anthropic",
        "cloud",
        "claude-3-opus-20240229",
    )
    assert (opus.cost_input_per_1k, opus.cost_output_per_1k) == (Decimal("0.015"), Decimal("0.075"))
    assert (opus.requests_per_minute, opus.tokens_per_minute, opus.context_window) == (
        50,
        100000,
        200000,
    )
    assert opus.capabilities == ["code_generation", "architecture_design", "complex_reasoning"]
    llama = LLMModel.objects.select_related("provider").get(key="llama-3-70b")
    assert (llama.provider.name, llama.type, llama.model_path) == (
        "simulated",
        "local",
        "/models/llama-3-70b",
    )
    assert llama.model_id == "llama-3-70b"  # no model_id given: the key is the upstream id
    assert llama.resource_requirements == {"gpu_memory_gb": 48, "cpu_cores": 16}
    assert llama.tokens_per_second == 30
    assert (llama.cost_input_per_1k, llama.cost_output_per_1k) == (Decimal(0), Decimal(0))


def test_models_only_listed_under_a_provider_are_created_free_when_local_and_unpriced_in_the_cloud(
    example: ImportResult,
) -> None:
    embed = LLMModel.objects.get(key="simulated:nomic-embed-text")
    assert (embed.type, embed.model_id, embed.cost_input_per_1k) == (
        "local",
        "nomic-embed-text",
        Decimal(0),
    )
    o1 = LLMModel.objects.get(key="openai:o1-preview")
    assert (o1.type, o1.cost_input_per_1k, o1.cost_output_per_1k) == ("cloud", None, None)
    # A listed id that models.yaml already defines is that model, not a second row.
    assert LLMModel.objects.filter(model_id="claude-sonnet-4-20250514").count() == 1
    assert (
        LLMModel.objects.filter(model_id="llama-3.1-70b-versatile").get().key
        == "groq-llama-3.1-70b"
    )


def test_the_example_providers_name_their_key_variable_never_the_key(example: ImportResult) -> None:
    providers = {
        p.name: (p.kind, p.tier, p.base_url, p.api_key_env, p.rate_limit_rpm)
        for p in Provider.objects.all()
    }
    assert providers == {
        "simulated": ("simulated", "local", "", "", None),
        "groq": (
            "openai_compatible",
            "fast_cloud",
            "https://api.groq.com/openai/v1",
            "GROQ_API_KEY",
            30,
        ),
        "together": (
            "openai_compatible",
            "fast_cloud",
            "https://api.together.xyz/v1",
            "TOGETHER_API_KEY",
            None,
        ),
        "anthropic": (
            "anthropic",
            "premium",
            "https://api.anthropic.com",
            "ANTHROPIC_API_KEY",
            None,
        ),
        "openai": (
            "openai_compatible",
            "premium",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            None,
        ),
    }
    assert Provider.objects.get(name="openai").model_roles == {
        "default": "gpt-4o",
        "reasoning": "o1-preview",
    }


def test_the_example_agents_keep_their_preferences_and_their_rules_in_order(
    example: ImportResult,
) -> None:
    assert sorted(Agent.objects.values_list("key", flat=True)) == sorted(EXAMPLE_AGENT_RULES)
    for key, expected in EXAMPLE_AGENT_RULES.items():
        rules = (
            RoutingRule.objects.filter(agent__key=key).select_related("model").order_by("position")
        )
        assert [(r.scope, r.condition, r.action, r.model.key) for r in rules] == [
            ("agent", condition, "use_model", model) for condition, model in expected
        ], key
    cto = Agent.objects.get(key="cto_agent")
    assert cto.name == "CTO Agent"
    assert (cto.primary_model.key, cto.fallback_model.key, cto.local_alternative.key) == (
        "claude-3-opus",
        "gpt-4-turbo",
        "llama-3-70b",
    )
    assert cto.budget_mode_model is None
    assert cto.capabilities_required == [
        "architecture_design",
        "complex_reasoning",
        "code_generation",
    ]
    assert Agent.objects.get(key="backend_agent").budget_mode_model.key == "llama-3-70b"


def test_the_example_strategies_carry_their_parameters_and_nothing_else(
    example: ImportResult,
) -> None:
    assert sorted(Strategy.objects.values_list("key", flat=True)) == sorted(EXAMPLE_STRATEGIES)
    for key, expected in EXAMPLE_STRATEGIES.items():
        strategy = Strategy.objects.get(key=key)
        values = {name: getattr(strategy, name) for name in STRATEGY_PARAMETERS}
        assert {name: v for name, v in values.items() if v not in (None, "")} == expected, key
    assert RoutingSettings.objects.get().default_strategy.key == "balanced"


def test_the_example_global_rules_keep_their_actions_and_the_five_factors_their_weights(
    example: ImportResult,
) -> None:
    rules = RoutingRule.objects.filter(scope="global").order_by("position")
    assert [(r.name, r.condition, r.action, r.model_id) for r in rules] == [
        (*rule, None) for rule in EXAMPLE_GLOBAL_RULES
    ]
    assert (
        list(RoutingFactor.objects.order_by("id").values_list("name", "weight", "calculation"))
        == EXAMPLE_FACTORS
    )


def test_the_example_task_table_and_fallback_chain_keep_their_order(example: ImportResult) -> None:
    assert _task_routes() == EXAMPLE_TASK_ROUTES
    assert _fallback_chain() == ["simulated", "groq", "anthropic", "openai"]


def test_the_example_budgets_and_session_token_budget_keep_their_limits(
    example: ImportResult,
) -> None:
    assert _budgets() == {
        ("global", "", "day"): (Decimal("10"), None, 0.8),
        ("provider", "anthropic", "day"): (Decimal("5"), Decimal("0.5"), 0.8),
        ("provider", "openai", "day"): (Decimal("5"), Decimal("0.5"), 0.8),
    }
    session = SessionTokenBudget.objects.get()
    assert (session.scope, session.agent_id, session.warning_tokens, session.switch_tokens) == (
        "global",
        None,
        150000,
        180000,
    )


def test_the_example_environment_profiles_are_imported_and_none_is_active_unless_asked(
    example: ImportResult,
) -> None:
    profiles = {
        p.name: (
            p.active,
            p.max_cloud_spend_per_day,
            p.require_local_for_pii,
            p.force_local_models,
            p.verbose_routing_logs,
            p.default_strategy_id,
        )
        for p in EnvironmentProfile.objects.all()
    }
    assert profiles == {
        "development": (False, None, None, True, True, None),
        "production": (False, Decimal("500"), True, None, None, None),
    }
    assert example.active_environment is None


def test_a_first_import_logs_every_change_as_an_import_and_bumps_the_revision_once(
    example: ImportResult,
) -> None:
    assert (example.changed, example.updated, example.deleted) == (True, 0, 0)
    assert example.config_version == config_revision_current() == 1
    assert set(ChangeLogEntry.objects.values_list("source", "reason")) == {
        ("import", "configuration import")
    }
    assert ChangeLogEntry.objects.filter(
        action="llmmodel.create", target_key="claude-3-opus"
    ).exists()


# Idempotence


def test_importing_the_same_configuration_again_changes_nothing(example: ImportResult) -> None:
    before = database_state()

    again = import_config(EXAMPLE)

    assert not again.changed
    assert (again.created, again.updated, again.deleted, again.changes) == (0, 0, 0, [])
    assert again.config_version == example.config_version
    assert database_state() == before  # no change-log row, no revision bump, same rows


# Round trips


def test_export_then_import_into_an_empty_database_then_export_gives_identical_files(
    example: ImportResult, tmp_path: Path
) -> None:
    first = exported_files(tmp_path / "a")
    assert sorted(first) == [
        "agents.yaml",
        "environments/development.yaml",
        "environments/production.yaml",
        "llm_routing.yaml",
        "models.yaml",
        "routing.yaml",
    ]
    imported = configuration_dump()
    empty_database()
    assert not any(m.objects.exists() for m in CONFIGURATION_MODELS)

    import_config(tmp_path / "a")

    assert exported_files(tmp_path / "b") == first
    assert configuration_dump() == imported


@pytest.mark.parametrize("files", [SEED_002, SEED_003], ids=["seed 002", "seed 003"])
def test_a_seed_configuration_survives_import_export_and_import_into_an_empty_database(
    files: dict[str, str], tmp_path: Path
) -> None:
    imported, exported = round_trip(files, tmp_path)

    assert configuration_dump() == imported
    assert exported_files(tmp_path / "again") == exported


def test_seed_002_keeps_its_prices_endpoints_rules_and_environments_through_a_round_trip(
    tmp_path: Path,
) -> None:
    round_trip(SEED_002, tmp_path)

    opus = LLMModel.objects.get(key="claude-3-opus")
    assert (opus.cost_input_per_1k, opus.cost_output_per_1k) == (Decimal("0.015"), Decimal("0.075"))
    endpoints = dict(LLMModel.objects.filter(type="local").values_list("key", "endpoint"))
    assert endpoints == {
        "llama-3-70b": "http://localhost:8080",
        "deepseek-coder-33b": "http://localhost:8081",
        "qwen-2-72b": "http://localhost:8082",
    }
    # Seed 002 gives local models no price: unknown, which is not the same as free.
    assert LLMModel.objects.get(key="qwen-2-72b").cost_input_per_1k is None
    local = Provider.objects.get(name="local")
    assert (local.kind, local.tier) == ("openai_compatible", "local")
    rules = RoutingRule.objects.filter(agent__key="backend_agent").order_by("position")
    assert [r.condition for r in rules] == [
        "task.type == 'code_generation'",
        "task.complexity > 6",
        "budget_mode == true",
    ]
    cost_optimized = Strategy.objects.get(key="cost_optimized")
    assert (cost_optimized.cloud_budget_per_day, cost_optimized.confidence_threshold) == (
        Decimal("100"),
        0.6,
    )
    rules = RoutingRule.objects.filter(scope="global").order_by("position")
    assert [(r.name, r.action) for r in rules] == [
        (name, action) for name, _, action in EXAMPLE_GLOBAL_RULES
    ]
    production = EnvironmentProfile.objects.get(name="production")
    assert (production.max_cloud_spend_per_day, production.require_local_for_pii) == (
        Decimal("500"),
        True,
    )
    assert EnvironmentProfile.objects.get(name="development").force_local_models is True


def test_seed_003_keeps_its_providers_task_table_limits_and_fallback_chain_through_a_round_trip(
    tmp_path: Path,
) -> None:
    round_trip(SEED_003, tmp_path)

    groq = Provider.objects.get(name="groq")
    assert (groq.tier, groq.api_key_env, groq.rate_limit_rpm) == ("fast_cloud", "GROQ_API_KEY", 30)
    ollama = Provider.objects.get(name="ollama")
    assert (ollama.kind, ollama.tier, ollama.base_url, ollama.default_model) == (
        "ollama",
        "local",
        "http://localhost:11434",
        "llama3.1:8b",
    )
    assert Provider.objects.get(name="lmstudio").base_url == "http://localhost:1234/v1"
    assert Provider.objects.get(name="anthropic").model_roles == {
        "reasoning": "claude-sonnet-4-20250514",
        "complex": "claude-sonnet-4-20250514",
    }
    codellama = LLMModel.objects.get(key="ollama:codellama:34b")
    assert (codellama.type, codellama.model_id, codellama.cost_input_per_1k) == (
        "local",
        "codellama:34b",
        Decimal(0),
    )
    routes = _task_routes()
    assert ("code_generation", "simple", 0, "ollama", "ollama:deepseek-coder:6.7b") in routes
    assert ("embedding", "all", 0, "ollama", "ollama:nomic-embed-text") in routes
    assert ("summarization", "long", 0, "anthropic", None) in routes
    assert len(routes) == 18
    assert _budgets() == {
        ("global", "", "day"): (Decimal("10"), None, 0.8),
        ("provider", "anthropic", "day"): (Decimal("5"), Decimal("0.5"), 0.8),
        ("provider", "openai", "day"): (Decimal("5"), Decimal("0.5"), 0.8),
    }
    assert _fallback_chain() == ["ollama", "groq", "anthropic", "openai"]


# A changed file


def _edited_example(tmp_path: Path, file: str, old: str, new: str) -> Path:
    directory = tmp_path / "edited"
    shutil.copytree(EXAMPLE, directory)
    path = directory / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return directory


def test_a_changed_price_updates_that_model_only_and_logs_the_costs_before_and_after(
    example: ImportResult, tmp_path: Path
) -> None:
    edited = _edited_example(tmp_path, "models.yaml", "input: 0.015", "input: 0.02")
    before = exported_files(tmp_path / "before")
    logged = set(ChangeLogEntry.objects.values_list("pk", flat=True))

    result = import_config(edited)

    assert (result.created, result.updated, result.deleted) == (0, 1, 0)
    assert result.changes == ["update llmmodel claude-3-opus"]
    assert result.config_version == config_revision_current() == example.config_version + 1
    (entry,) = ChangeLogEntry.objects.exclude(pk__in=logged)
    assert (entry.source, entry.action, entry.target_key) == (
        "import",
        "llmmodel.update",
        "claude-3-opus",
    )
    assert Decimal(entry.before["cost_input_per_1k"]) == Decimal("0.015")
    assert Decimal(entry.after["cost_input_per_1k"]) == Decimal("0.02")
    assert Decimal(entry.before["cost_output_per_1k"]) == Decimal(entry.after["cost_output_per_1k"])
    after = exported_files(tmp_path / "after")
    assert {name for name in before if before[name] != after[name]} == {"models.yaml"}
    changed_lines = set(after["models.yaml"].splitlines()) ^ set(before["models.yaml"].splitlines())
    assert changed_lines == {b"      input: 0.015", b"      input: 0.02"}


@pytest.mark.parametrize(
    ("file", "old", "new", "change"),
    [
        (
            "models.yaml",
            "tokens_per_second: 45",
            "tokens_per_second: 50",
            "update llmmodel deepseek-coder-33b",
        ),
        (
            "agents.yaml",
            "task.complexity > 8",
            "task.complexity > 9",
            "replace routingrule agent:cto_agent",
        ),
        ("routing.yaml", "complexity: 7", "complexity: 8", "update strategy cost_optimized"),
        ("routing.yaml", "weight: 0.15", "weight: 0.2", "update routingfactor performance_needs"),
        (
            "llm_routing.yaml",
            "warning: 150000",
            "warning: 160000",
            "update sessiontokenbudget global",
        ),
        ("llm_routing.yaml", "rate_limit: 30", "rate_limit: 40", "update provider groq"),
        (
            "environments/production.yaml",
            "500.00",
            "400.00",
            "update environmentprofile production",
        ),
    ],
)
def test_a_changed_file_updates_only_what_changed_and_bumps_the_revision_once(
    example: ImportResult, tmp_path: Path, file: str, old: str, new: str, change: str
) -> None:
    edited = _edited_example(tmp_path, file, old, new)
    logged = ChangeLogEntry.objects.count()

    result = import_config(edited)

    assert result.changes == [change]
    assert ChangeLogEntry.objects.count() == logged + 1
    assert config_revision_current() == example.config_version + 1


# Management commands


def test_the_import_command_says_so_when_the_configuration_is_already_imported(
    settings: Any,
) -> None:
    settings.SWITCHBOARD_ENVIRONMENT = ""
    first, second = io.StringIO(), io.StringIO()

    call_command("import_routing_config", str(EXAMPLE), stdout=first)
    call_command("import_routing_config", str(EXAMPLE), stdout=second)

    assert first.getvalue().startswith(f"Imported {EXAMPLE}: ")
    assert "(config version 1)" in first.getvalue()
    assert (
        second.getvalue() == f"Configuration in {EXAMPLE} is already imported; nothing changed.\n"
    )


def _active_environments() -> list[str]:
    return list(EnvironmentProfile.objects.filter(active=True).values_list("name", flat=True))


def test_the_environment_option_activates_a_profile_and_an_import_without_it_deactivates_it(
    settings: Any,
) -> None:
    settings.SWITCHBOARD_ENVIRONMENT = ""
    out = io.StringIO()

    call_command("import_routing_config", str(EXAMPLE), environment="production", stdout=out)
    assert _active_environments() == ["production"]
    assert "Active environment: production" in out.getvalue()

    call_command("import_routing_config", str(EXAMPLE), stdout=io.StringIO())
    assert _active_environments() == []
    assert EnvironmentProfile.objects.filter(name="production").exists()


def test_the_switchboard_environment_setting_picks_the_profile_unless_the_option_names_another(
    settings: Any,
) -> None:
    settings.SWITCHBOARD_ENVIRONMENT = "development"

    call_command("import_routing_config", str(EXAMPLE), stdout=io.StringIO())
    assert _active_environments() == ["development"]

    call_command(
        "import_routing_config", str(EXAMPLE), environment="production", stdout=io.StringIO()
    )
    assert _active_environments() == ["production"]
