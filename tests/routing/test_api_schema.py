"""The OpenAPI schema (/api/schema/) and its docs page (/api/docs/).

- the schema answers (JSON and YAML, without logging in), passes drf-spectacular's
  validator, and generates with no warnings;
- every URL pattern under /api/ and /v1/, with each of its methods, is in it, and every
  operation lists its error responses;
- the docs page renders for a logged-in user from our own static files, no CDN;
- a bounded schemathesis run against the Django app in-process finds no 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from routing.api.parsers import MSG_BAD_TEXT
from routing.choices import Tier
from routing.config_io import import_config
from routing.models import LLMModel
from routing.services import api_key_create, config_revision_bump
from routing.snapshot import clear_snapshot_cache
from tests.factories import make_user

CONFIG = Path(__file__).resolve().parents[2] / "config"
SCHEMA_URL = "/api/schema/"
DOCS_URL = "/api/docs/"
METHODS = {"get", "post", "put", "patch", "delete"}
# The pages that serve the schema are not in it.
NOT_DOCUMENTED = {SCHEMA_URL, DOCS_URL}
# Routed with an API key (services); everything else with an admin's session.
KEY_PATHS = re.compile(r"^/(v1/|api/route$)")
MAX_EXAMPLES = 10
# Any 32 letters make a CSRF token: sent as the cookie and echoed in the header.
CSRF_TOKEN = "schemathesis" + "x" * 20


def _schema(client: Client, fmt: str = "json") -> dict[str, Any]:
    response = client.get(SCHEMA_URL, {"format": fmt})
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content) if fmt == "json" else yaml.safe_load(response.content)


# -- the schema ---------------------------------------------------------------------------


def test_the_schema_answers_without_logging_in_in_json_and_yaml() -> None:
    client = Client()
    as_json = client.get(SCHEMA_URL, {"format": "json"})
    as_yaml = client.get(SCHEMA_URL)

    assert as_json.status_code == as_yaml.status_code == 200
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert json.loads(as_json.content) == yaml.safe_load(as_yaml.content)
    assert json.loads(as_json.content)["openapi"].startswith("3.")


def test_the_schema_is_valid_openapi() -> None:
    validate_schema(_schema(Client()))  # raises on an invalid schema


def test_the_schema_generates_without_warnings(tmp_path: Path) -> None:
    # What `manage.py spectacular --validate --fail-on-warn` checks in CI.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )


def _routes(resolvers: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def _openapi_path(route: str) -> str:
    """ "api/agents/<str:agent>/model" or "api/^models/(?P<key>.+)$" as "/api/..." with
    {name} placeholders (a router's pk is named id, as the schema names it)."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # a regex group
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # a path converter
    route = route.replace("^", "").replace("$", "")
    return "/" + route.replace("{pk}", "{id}")


def _methods(pattern: URLPattern) -> set[str]:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:  # a viewset's route
        return set(actions) & METHODS
    view_class = callback.cls  # an APIView
    return {m for m in METHODS if hasattr(view_class, m)}


def test_every_api_and_v1_url_is_in_the_schema_with_its_methods() -> None:
    paths = _schema(Client())["paths"]
    expected = {
        _openapi_path(route): pattern
        for route, pattern in _routes(get_resolver().url_patterns)
        if route.startswith(("api/", "v1/"))
    }
    for path in NOT_DOCUMENTED:
        assert expected.pop(path, None) is not None, path

    assert len(expected) > 30
    missing = sorted(set(expected) - set(paths))
    assert missing == []
    for path, pattern in expected.items():
        assert _methods(pattern) <= set(paths[path]), path
    assert not [p for p in paths if not p.startswith(("/api/", "/v1/"))]


def test_every_operation_lists_its_errors_in_an_envelope() -> None:
    schema = _schema(Client())
    envelopes = {
        "#/components/schemas/ErrorEnvelope",
        "#/components/schemas/OpenAIErrorEnvelope",
        "#/components/schemas/AnthropicErrorEnvelope",
    }
    assert {"ErrorEnvelope", "Error", "ErrorCodeEnum"} <= set(schema["components"]["schemas"])
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = {int(code) for code in operation["responses"]}
            assert {401, 403} <= codes, (method, path)
            for code in codes - {200, 201, 202, 204}:
                content = operation["responses"][str(code)]["content"]["application/json"]
                assert content["schema"]["$ref"] in envelopes, (method, path, code)
            wants_body = method in {"post", "put", "patch"} and "requestBody" in operation
            if wants_body:
                assert 400 in codes, (method, path)
            if path.startswith("/v1/") or path == "/api/route":
                assert operation["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    route = schema["paths"]["/api/route"]["post"]["responses"]
    assert {400, 401, 403, 404, 413, 422, 429, 502} <= {int(code) for code in route}


def test_the_security_schemes_are_documented() -> None:
    schemes = _schema(Client())["components"]["securitySchemes"]

    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "x-api-key"
    assert schemes["cookieAuth"]["in"] == "cookie"


# -- the docs page ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_docs_page_renders_from_local_static_files_only() -> None:
    client = Client()
    client.force_login(make_user(role="viewer"))

    response = client.get(DOCS_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "SwaggerUIBundle" in html
    assert "http://" not in html
    assert "https://" not in html
    assert "//cdn" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 4  # the css, the favicon, the bundle and the standalone preset
    for url in assets:
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), f"{url} is not in our static files"
    assert f'"{SCHEMA_URL}"' in html  # the schema it loads is ours, on this host


@pytest.mark.django_db
def test_anonymous_visitors_of_the_docs_page_are_sent_to_log_in() -> None:
    response = Client().get(DOCS_URL)

    assert response.status_code == 302
    assert "next=/api/docs/" in response["Location"]


# -- schemathesis -------------------------------------------------------------------------

SCHEMATHESIS_CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            "max-examples": MAX_EXAMPLES,
            # Our own credentials are sent with each call (below); do not fuzz them.
            "with-security-parameters": False,
        },
        # Random (fuzzing) and the schema's own examples only: the coverage phase and
        # stateful links have no bound on the number of calls.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "suppress-health-check": ["all"],
    }
)


@pytest.fixture
def in_process_app(db: None) -> Iterator[Any]:
    """The WSGI app, called in the test's own transaction. Django closes the database
    connection around each request it serves (which would end the test's transaction on
    PostgreSQL); its test client turns that off, and so does this."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(in_process_app: Any) -> Any:
    """The schema, as the Django app serves it, with the app to call in-process."""
    return schemathesis.openapi.from_wsgi(
        SCHEMA_URL + "?format=json", in_process_app, config=SCHEMATHESIS_CONFIG
    )


@pytest.fixture
def credentials(db: None, admin_user: Any) -> dict[str, dict[str, dict[str, str]]]:
    """The example configuration, local models only (they are simulated: nothing leaves
    the host, and no answer depends on a cloud key this machine may lack), an admin's
    session (with its CSRF token) and a service key with every scope."""
    import_config(CONFIG)
    LLMModel.objects.exclude(provider__tier=Tier.LOCAL).update(enabled=False)
    config_revision_bump()
    clear_snapshot_cache()  # the bump's own refresh waits for a commit this test never makes
    browser = Client()
    browser.force_login(admin_user)
    session_cookie = django_settings.SESSION_COOKIE_NAME
    key = api_key_create(name="schemathesis", scopes=["route", "status"]).plaintext
    return {
        "session": {
            "headers": {"X-CSRFToken": CSRF_TOKEN},
            "cookies": {
                session_cookie: browser.cookies[session_cookie].value,
                django_settings.CSRF_COOKIE_NAME: CSRF_TOKEN,
            },
        },
        "key": {"headers": {"Authorization": f"Bearer {key}"}, "cookies": {}},
    }


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_with_a_server_error(case: Any, credentials: Any) -> None:
    auth = credentials["key" if KEY_PATHS.match(case.operation.path) else "session"]
    case.call_and_validate(
        headers=auth["headers"], cookies=auth["cookies"], checks=[not_a_server_error]
    )


# -- the 5xx it found, kept fixed ---------------------------------------------------------


@pytest.fixture
def service(db: None) -> Client:
    key = api_key_create(name="service", scopes=["route", "status"]).plaintext
    return Client(headers={"Authorization": f"Bearer {key}"})


def _post(client: Client, path: str, body: Any, **headers: str) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.parametrize("path", ["/api/route", "/v1/chat/completions"])
def test_a_message_part_whose_text_is_not_text_is_a_400(service: Client, path: str) -> None:
    # Was a 500: the providers join the parts' texts as strings.
    body = {"model": "auto", "messages": [{"role": "user", "content": [{"type": "", "text": {}}]}]}
    if path == "/api/route":
        del body["model"]

    response = _post(service, path, body)

    assert response.status_code == 400
    assert "messages" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/route", {"messages": [{"role": "user", "content": "a\x00b"}]}),
        ("/api/route", {"messages": [{"role": "user", "content": "a\ud800b"}]}),
        ("/v1/embeddings", {"model": "auto", "input": "a\x00b"}),
    ],
)
def test_text_the_database_cannot_store_is_a_400(service: Client, path: str, body: Any) -> None:
    # Was a 500 on PostgreSQL (no NUL in text or jsonb) and for any unpaired surrogate.
    response = _post(service, path, body)

    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"] == {
        "input" if path == "/v1/embeddings" else "messages[0].content": [MSG_BAD_TEXT]
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/providers/a%00b"),
        ("delete", "/api/api-keys/a%00b"),
        ("delete", "/api/agents/a%00b/model"),
    ],
)
def test_a_nul_in_a_url_is_a_404(admin_client: Client, method: str, path: str) -> None:
    # Was a 500 on PostgreSQL: the key went to the database as it was.
    response = getattr(admin_client, method)(path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("header", "value", "field"),
    [
        ("X-Switchboard-Complexity", "N5c", "complexity"),
        ("X-Switchboard-Complexity", "\u00b2", "complexity"),
        ("X-Switchboard-Complexity", "11", "complexity"),
        ("X-Switchboard-Privacy-Level", "secret", "privacy_level"),
        ("X-Switchboard-Session-Id", "s" * 201, "session_id"),
    ],
)
def test_a_routing_hint_that_is_not_valid_is_a_400(
    service: Client, header: str, value: str, field: str
) -> None:
    # Was a 500: hints reached the engine without the checks POST /api/route makes.
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}

    response = _post(service, "/v1/chat/completions", body, **{header: value})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert field in response.json()["error"]["details"]["fields"]
