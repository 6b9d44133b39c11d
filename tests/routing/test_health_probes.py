"""Health probes against a fake upstream over real sockets: a model whose endpoint is
down cools down for every process and routing skips it; when it is back the probe's
cooldown is lifted, never a 429's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from controlplane.celery import app
from routing.choices import ProviderKind, Tier
from routing.execution import breaker
from routing.models import ModelHealth
from routing.services.health import models_probe
from routing.services.route import route
from routing.snapshot import current_snapshot, load_runtime_state
from routing.tasks import probe_models
from tests.factories import make_agent, make_model, make_provider
from tests.fake_upstream import FakeUpstream, Faults, parse_faults
from tests.upstream_registry import CLOUD_KEY, CLOUD_KEY_ENV, add_model

pytestmark = pytest.mark.django_db

RATE_LIMITED = "fake-model@status=429,retry_after={seconds}"


@pytest.fixture
def flaky() -> Iterator[FakeUpstream]:
    """An endpoint of its own, to take down and bring back without touching the shared one."""
    models = ("llama3:latest", RATE_LIMITED.format(seconds=30), RATE_LIMITED.format(seconds=900))
    with FakeUpstream(models=models) as server:
        yield server


def _ollama(server: FakeUpstream, **fields: Any) -> Any:
    return make_provider(kind=ProviderKind.OLLAMA, tier=Tier.LOCAL, base_url=server.url, **fields)


def _route(agent: str) -> dict[str, Any]:
    return route(
        {"agent": agent, "messages": [{"role": "user", "content": "hello there"}]}, api_key=None
    )


def _health(key: str) -> ModelHealth:
    return ModelHealth.objects.get(model__key=key)


def _chat_calls(server: FakeUpstream) -> int:
    return sum(1 for r in server.requests if r.path == "/api/chat")


def test_a_model_whose_endpoint_is_down_is_cooled_down_skipped_and_restored_when_back(
    registry, flaky
) -> None:
    primary = make_model(key="flaky-llama", provider=_ollama(flaky), model_id="llama3:latest")
    backup = add_model(registry, "steady-llama", "local", "llama3")
    make_agent(key="writer", primary_model=primary, fallback_model=backup)

    flaky.default_faults = parse_faults("status=503")
    summary = models_probe(timezone.now())

    assert set(summary.unhealthy) == {"flaky-llama"}
    assert "steady-llama" in summary.healthy
    row = _health("flaky-llama")
    assert row.healthy is False
    assert row.consecutive_failures == 1
    assert row.error.startswith("http_5xx: HTTP 503")
    assert _health("steady-llama").healthy is True
    now = timezone.now()
    until = breaker.cooling_until("flaky-llama", now)
    assert until is not None
    assert until > now + timedelta(seconds=settings.SWITCHBOARD_HEALTH_PROBE_SECONDS)
    # The engine reads it with the rest of the runtime state...
    state = load_runtime_state(snapshot=current_snapshot(), session_id=None, now=now)
    assert "flaky-llama" in state.cooling_down
    assert state.unhealthy == {"flaky-llama"}  # the probe's cooldown, not a 429's
    # ...so routing leaves the model out without calling it.
    flaky.reset()
    answer = _route("writer")
    assert answer["model_used"] == "steady-llama"
    assert "flaky-llama" not in answer["decision"]["chain"]
    assert _chat_calls(flaky) == 0

    models_probe(timezone.now())  # still down: the count goes on
    assert _health("flaky-llama").consecutive_failures == 2

    flaky.default_faults = Faults()
    summary = models_probe(timezone.now())

    assert "flaky-llama" in summary.healthy
    row = _health("flaky-llama")
    assert (row.healthy, row.consecutive_failures, row.error) == (True, 0, "")
    assert row.latency_ms is not None
    assert breaker.cooling_until("flaky-llama", timezone.now()) is None
    assert _route("writer")["model_used"] == "flaky-llama"


def test_an_unreachable_endpoint_is_unhealthy(registry) -> None:
    with FakeUpstream() as gone:
        provider = _ollama(gone)
    # The server is stopped: its port refuses connections.
    make_model(key="gone-llama", provider=provider, model_id="llama3:latest")

    summary = models_probe(timezone.now())

    assert summary.unhealthy["gone-llama"].startswith("connect:")
    assert breaker.cooling_until("gone-llama", timezone.now()) is not None


def test_a_passing_probe_never_lifts_a_429_cooldown_still_running(registry, flaky) -> None:
    model_id = RATE_LIMITED.format(seconds=900)
    limited = make_model(key="limited", provider=_ollama(flaky), model_id=model_id)
    backup = add_model(registry, "steady-llama", "local", "llama3")
    make_agent(key="writer", primary_model=limited, fallback_model=backup)
    answer = _route("writer")  # the 429 cools `limited` down for its Retry-After
    assert answer["model_used"] == "steady-llama"
    until = breaker.cooling_until("limited", timezone.now())
    assert until is not None

    summary = models_probe(timezone.now())

    assert "limited" in summary.healthy  # the endpoint is up and lists the model
    assert breaker.cooling_until("limited", timezone.now()) == until
    state = load_runtime_state(snapshot=current_snapshot(), session_id=None, now=timezone.now())
    assert "limited" in state.cooling_down
    assert state.unhealthy == frozenset()  # rate limited, not unhealthy


def test_a_429_cooldown_lengthened_by_a_failed_probe_comes_back_when_the_probe_passes(
    registry, flaky
) -> None:
    model_id = RATE_LIMITED.format(seconds=30)
    limited = make_model(key="limited", provider=_ollama(flaky), model_id=model_id)
    backup = add_model(registry, "steady-llama", "local", "llama3")
    make_agent(key="writer", primary_model=limited, fallback_model=backup)
    _route("writer")
    retry_after_until = breaker.cooling_until("limited", timezone.now())
    assert retry_after_until is not None

    flaky.default_faults = parse_faults("status=502")
    models_probe(timezone.now())
    lengthened = breaker.cooling_until("limited", timezone.now())
    assert lengthened is not None
    assert lengthened > retry_after_until
    state = load_runtime_state(snapshot=current_snapshot(), session_id=None, now=timezone.now())
    assert state.unhealthy == {"limited"}
    flaky.default_faults = Faults()
    models_probe(timezone.now())

    assert breaker.cooling_until("limited", timezone.now()) == retry_after_until


def test_one_probe_per_endpoint_and_a_model_not_pulled_is_unhealthy(flaky) -> None:
    provider = _ollama(flaky)
    make_model(key="llama-a", provider=provider, model_id="llama3:latest")
    make_model(key="llama-b", provider=provider, model_id="llama3")  # ":latest" implied
    make_model(key="mistral", provider=provider, model_id="mistral:7b")
    make_model(key="off", provider=provider, model_id="nothing", enabled=False)

    summary = models_probe(timezone.now())

    assert sorted(summary.healthy) == ["llama-a", "llama-b"]
    assert summary.unhealthy == {"mistral": "model 'mistral:7b' is not pulled there"}
    assert [r.path for r in flaky.requests] == ["/api/tags"]
    assert not ModelHealth.objects.filter(model__key="off").exists()


def test_openai_compatible_probes_list_models_with_the_key_from_the_environment(
    flaky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CLOUD_KEY_ENV, CLOUD_KEY)
    cloud = make_provider(
        kind=ProviderKind.OPENAI_COMPATIBLE,
        tier=Tier.PREMIUM,
        base_url=f"{flaky.url}/v1",
        api_key_env=CLOUD_KEY_ENV,
    )
    make_model(key="listed", provider=cloud, model_id="llama3:latest", type="cloud")
    make_model(key="unlisted", provider=cloud, model_id="gpt-9", type="cloud")

    summary = models_probe(timezone.now())

    assert summary.healthy == ["listed"]
    assert summary.unhealthy == {"unlisted": "model 'gpt-9' is not listed there"}
    (probe,) = flaky.requests
    assert (probe.method, probe.path) == ("GET", "/v1/models")
    assert probe.headers["authorization"] == f"Bearer {CLOUD_KEY}"
    assert CLOUD_KEY not in str(ModelHealth.objects.values_list("error", flat=True))


def test_a_rejected_or_missing_key_makes_the_model_unhealthy(
    flaky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SB_TEST_UNSET_KEY", raising=False)
    make_model(
        key="no-key",
        type="cloud",
        model_id="llama3:latest",
        provider=make_provider(
            kind=ProviderKind.OPENAI_COMPATIBLE,
            tier=Tier.PREMIUM,
            base_url=f"{flaky.url}/v1",
            api_key_env="SB_TEST_UNSET_KEY",
        ),
    )
    monkeypatch.setenv(CLOUD_KEY_ENV, CLOUD_KEY)
    make_model(
        key="bad-key",
        type="cloud",
        model_id="llama3:latest",
        provider=make_provider(
            kind=ProviderKind.ANTHROPIC,
            tier=Tier.PREMIUM,
            base_url=flaky.url,
            api_key_env=CLOUD_KEY_ENV,
        ),
    )
    flaky.default_faults = parse_faults("status=401")

    summary = models_probe(timezone.now())

    assert summary.unhealthy["no-key"] == (
        "no API key: environment variable SB_TEST_UNSET_KEY is not set"
    )
    assert summary.unhealthy["bad-key"].startswith("http_4xx: HTTP 401")
    (probe,) = flaky.requests  # none for the model without a key
    assert probe.path == "/v1/models?limit=1000"
    assert probe.headers["x-api-key"] == CLOUD_KEY
    assert probe.headers["anthropic-version"]


def test_an_endpoint_without_a_model_listing_or_rate_limited_counts_as_up(flaky) -> None:
    make_model(
        key="plain-server",
        type="cloud",
        model_id="whatever",
        provider=make_provider(
            kind=ProviderKind.OPENAI_COMPATIBLE, tier=Tier.FAST_CLOUD, base_url=f"{flaky.url}/x"
        ),
    )
    flaky.default_faults = parse_faults("status=404")
    assert models_probe(timezone.now()).healthy == ["plain-server"]
    flaky.default_faults = parse_faults("status=429")
    assert models_probe(timezone.now()).healthy == ["plain-server"]


def test_a_simulated_model_is_unhealthy_only_when_it_fails_every_prompt(db) -> None:
    make_model(key="sim-ok", provider=make_provider(options={"failure_rate": 0.5}))
    make_model(key="sim-broken", provider=make_provider(options={"failure_rate": 1}))

    summary = models_probe(timezone.now())

    assert summary.healthy == ["sim-ok"]
    assert list(summary.unhealthy) == ["sim-broken"]


def test_the_task_runs_the_probes_on_the_beat_interval_from_settings(db) -> None:
    make_model(key="sim-broken", provider=make_provider(options={"failure_rate": 1}))

    result = probe_models.delay().get()

    assert result == {"healthy": [], "unhealthy": {"sim-broken": result["unhealthy"]["sim-broken"]}}
    assert _health("sim-broken").healthy is False
    entry = settings.CELERY_BEAT_SCHEDULE["probe-models"]
    assert entry["task"] in app.tasks
    assert entry["schedule"] == settings.SWITCHBOARD_HEALTH_PROBE_SECONDS
