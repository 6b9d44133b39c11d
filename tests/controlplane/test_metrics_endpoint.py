"""GET /metrics: the Prometheus text format, moved by routed requests, read at scrape
time from the shared state, and closed to the wrong network or a missing token."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from routing.execution import breaker
from routing.models import ModelHealth, RoutingSettings, Strategy
from routing.prometheus import FALLBACK_REASONS, fallback_reason
from tests.controlplane.test_settings import ROOT, run_check
from tests.factories import make_agent, make_budget, make_model, make_provider, make_spend_ledger

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"
PROMPT = "Write a haiku about routing tables"


def scrape(client: Client, **extra: Any) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def routed(service_key) -> dict[str, Any]:
    """Simulated models: `sim-broken` fails every prompt, `sim-good` answers; responses
    are cached; a daily global budget with some spend today."""
    broken = make_model(key="sim-broken", provider=make_provider(options={"failure_rate": 1}))
    good = make_model(key="sim-good", provider=make_provider())
    make_agent(key="writer", primary_model=broken, fallback_model=good)
    strategy = Strategy.objects.create(key="cached", cache_responses=True)
    RoutingSettings.objects.create(default_strategy=strategy)
    make_budget(limit_usd=Decimal("10"))
    make_spend_ledger(cost_usd=Decimal("2.5"))
    ModelHealth.objects.create(model=good, healthy=True, latency_ms=3)
    ModelHealth.objects.create(model=broken, healthy=False, error="http_5xx")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {service_key.plaintext}")
    return {"api": api}


def _route(api: Client, **body: Any) -> Any:
    body.setdefault("messages", [{"role": "user", "content": PROMPT}])
    return api.post("/api/route", body, content_type="application/json")


def test_routed_requests_move_the_counters_and_the_state_gauges_are_read_at_scrape(
    routed, client: Client
) -> None:
    before = scrape(client)

    first = _route(routed["api"], agent="writer")
    second = _route(routed["api"], agent="writer")
    after = scrape(client)

    assert first.status_code == second.status_code == 200, first.content
    assert (first.json()["cached"], second.json()["cached"]) == (False, True)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"agent": "writer", "model": "sim-good", "outcome": "success"}
    assert moved("switchboard_requests_total", **ok) == 2
    assert moved("switchboard_fallbacks_total", model="sim-broken", reason="http_5xx") == 1
    assert moved("switchboard_response_cache_hits_total") == 1
    assert moved("switchboard_request_latency_seconds_count", model="sim-good") == 2
    assert value(after, "switchboard_spend_usd_today", scope="global", key="") == 2.5
    budget = {"scope": "global", "key": "", "period": "day"}
    assert value(after, "switchboard_budget_limit_usd", **budget) == 10
    assert value(after, "switchboard_budget_used_ratio", **budget) == 0.25
    assert value(after, "switchboard_model_healthy", model="sim-good") == 1
    assert ("switchboard_model_healthy", frozenset({("model", "sim-broken")})) in after
    assert value(after, "switchboard_model_healthy", model="sim-broken") == 0
    assert ("switchboard_model_cooldown", frozenset({("model", "sim-good")})) in after
    assert ("switchboard_config_version", frozenset()) in after
    # No label holds prompt text.
    assert PROMPT not in str(after)


def test_a_cooling_model_shows_in_the_cooldown_gauge(routed, client: Client) -> None:
    breaker.cool_down("sim-broken", 600, timezone.now())

    samples = scrape(client)

    assert value(samples, "switchboard_model_cooldown", model="sim-broken") == 1
    assert value(samples, "switchboard_model_cooldown", model="sim-good") == 0


def test_an_unknown_agent_never_becomes_a_label(routed, client: Client) -> None:
    before = scrape(client)

    response = _route(routed["api"], agent="no-such-agent-7f3a")
    after = scrape(client)

    assert response.status_code == 404
    labels = {"agent": "unknown", "model": "none", "outcome": "refused"}
    assert (
        value(after, "switchboard_requests_total", **labels)
        - value(before, "switchboard_requests_total", **labels)
        == 1
    )
    assert "no-such-agent-7f3a" not in str(after)


@pytest.mark.parametrize(
    ("reason", "bucket"),
    [
        ("rate limited (429); cooling down until 2026-11-25T10:00:00+00:00", "rate_limited"),
        ("timeout: upstream timed out (ReadTimeout)", "timeout"),
        ("first_token_timeout: no content within 10s", "first_token_timeout"),
        ("connect: connection failed (ConnectError)", "connect"),
        ("http_5xx: HTTP 503: overloaded, try model-x", "http_5xx"),
        ("http_4xx: HTTP 400: bad", "http_4xx"),
        ("cooling down until 2026-11-25T10:00:00+00:00", "cooling_down"),
        ("no API key: environment variable X is not set", "no_api_key"),
        ("privacy: only local models may see this request", "privacy"),
        ("empty answer", "empty_answer"),
        ("refusal ('I cannot')", "refusal"),
        ("invalid JSON: no JSON object found", "invalid_output"),
        ("schema violation at (root): 'a' is a required property", "invalid_output"),
        ("stream failed after the first token: connect: x", "stream_failed"),
        ("cancelled: lost the hedge (still running)", "lost_hedge"),
        ("something new and unforeseen 12345", "other"),
        (None, "other"),
    ],
)
def test_fallback_reasons_fall_in_a_bounded_set_of_buckets(reason: str | None, bucket: str) -> None:
    assert fallback_reason(reason) == bucket
    assert bucket in FALLBACK_REASONS


# -- protection -----------------------------------------------------------------------------


def test_only_the_allowed_networks_may_read_it(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert refused.status_code == 403
    assert b"SWITCHBOARD_METRICS_ALLOWED_NETWORKS" in refused.content
    assert client.post("/metrics").status_code == 405


def test_a_configured_token_is_required(client: Client, settings) -> None:
    settings.SWITCHBOARD_METRICS_TOKEN = TOKEN

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-it")
    right = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    elsewhere = client.get(
        "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="192.0.2.9"
    )

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert elsewhere.status_code == 403  # both guards apply


def test_a_token_alone_opens_it_to_any_network(client: Client, settings) -> None:
    settings.SWITCHBOARD_METRICS_TOKEN = TOKEN
    settings.SWITCHBOARD_METRICS_NETWORKS = []

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="192.0.2.9")

    assert response.status_code == 200


def test_a_wider_network_can_be_allowed(client: Client, settings) -> None:
    settings.SWITCHBOARD_METRICS_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]

    assert client.get("/metrics", REMOTE_ADDR="10.9.8.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.parametrize(
    "env",
    [
        {"SWITCHBOARD_METRICS_ALLOWED_NETWORKS": "10.0.0.0/33"},
        {"SWITCHBOARD_METRICS_ALLOWED_NETWORKS": "localhost"},
        {"SWITCHBOARD_METRICS_ALLOWED_NETWORKS": "", "SWITCHBOARD_METRICS_TOKEN": ""},
    ],
)
def test_a_bad_or_open_metrics_setting_stops_start_up(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_check(tmp_path, DEBUG="true", **env)

    assert result.returncode != 0
    assert '"SWITCHBOARD_METRICS_ALLOWED_NETWORKS"' in result.stderr
    assert "Traceback" not in result.stderr


# -- several web worker processes -----------------------------------------------------------

WORKER = """
import django, sys
django.setup()
from routing.models import Decision
from routing.prometheus import decision_counted
decision_counted(Decision(agent_key="writer", model_used="m", outcome="success", latency_ms=5))
"""
SCRAPER = """
import django, sys
django.setup()
from django.utils import timezone
from routing.prometheus import exposition
sys.stdout.write(exposition(timezone.now()).decode())
"""


def test_with_a_multiprocess_directory_the_scrape_sums_every_worker(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}},
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    (tmp_path / "prom").mkdir()

    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("manage.py", "migrate", "-v0")
    run("-c", WORKER)  # two worker processes, one request each
    run("-c", WORKER)
    out = run("-c", SCRAPER)

    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    labels = frozenset({"agent": "writer", "model": "m", "outcome": "success"}.items())
    assert samples[("switchboard_requests_total", labels)] == 2
    assert ("switchboard_config_version", frozenset()) in samples
