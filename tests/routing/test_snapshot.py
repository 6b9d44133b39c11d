"""The snapshot loader (the one bridge from the ORM to the engine), runtime state, and
replaying a stored decision on its own configuration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache

from agents.models import Agent
from routing.config_io import import_config
from routing.engine import RouteRequest, decide
from routing.engine.replay import decision_inputs, rerun
from routing.models import (
    ConfigSnapshot,
    Experiment,
    ExperimentVariant,
    LLMModel,
    SessionUsage,
    SpendLedger,
    Strategy,
    StrategyOverride,
)
from routing.services import config_revision_bump, config_revision_current
from routing.snapshot import (
    COOLDOWN_CACHE_KEY,
    current_snapshot,
    load_config_data,
    load_runtime_state,
    stored_snapshot,
)
from tests.factories import make_agent, make_model, make_rule

pytestmark = pytest.mark.django_db

CONFIG = Path(__file__).resolve().parents[2] / "config"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# One query per table the engine reads, whatever the configuration's size:
LOAD_QUERIES = [
    "models with their providers",
    "providers (default models)",
    "routing settings",
    "control state",
    "active environment",
    "agents",
    "rules",
    "strategies",
    "routing factors",
    "task routes",
    "fallback chain",
    "open strategy overrides",
    "open agent model overrides",
    "open task overrides",
    "budgets",
    "session token budgets",
    "experiments",
    "experiment variants (prefetch)",
]


@pytest.fixture
def example() -> None:
    import_config(CONFIG)
    experiment = Experiment.objects.create(key="ab", agent=Agent.objects.get(key="qa_agent"))
    for key in ("llama-3-70b", "qwen-2-72b"):
        ExperimentVariant.objects.create(
            experiment=experiment, model=LLMModel.objects.get(key=key), weight=1
        )


def test_the_snapshot_holds_the_imported_configuration(example: None) -> None:
    snapshot = current_snapshot()

    assert snapshot.version == config_revision_current()
    assert {"claude-3-opus", "llama-3-70b", "simulated:nomic-embed-text"} <= set(snapshot.models)
    assert snapshot.models["llama-3-70b"].is_local
    assert snapshot.models["claude-3-opus"].cost_input_per_1k == 0.015
    assert [r.name for r in snapshot.global_rules] == [
        "rate_limit_protection",
        "cost_circuit_breaker",
        "privacy_enforcement",
        "quality_assurance",
    ]
    assert [r.model for r in snapshot.agents["cto_agent"].rules] == [
        "llama-3-70b",
        "claude-3-opus",
        "llama-3-70b",
    ]
    assert snapshot.default_strategy == "balanced"
    assert snapshot.provider_default_models["groq"] == "groq-llama-3.1-70b"
    assert snapshot.task_routes[("code_generation", "simple")][0] == (
        "simulated",
        "simulated:deepseek-coder:6.7b",
    )
    assert snapshot.session_budget.switch_tokens == 180_000
    assert snapshot.experiments[0].variants == (("llama-3-70b", 1.0), ("qwen-2-72b", 1.0))


def test_loading_takes_a_fixed_number_of_queries_however_large_the_configuration(
    example: None, django_assert_num_queries
) -> None:
    with django_assert_num_queries(len(LOAD_QUERIES)):
        load_config_data(1)
    for i in range(10):
        agent = make_agent(key=f"extra-{i}")
        make_rule(agent=agent, condition="task.complexity > 3")
        make_model(key=f"extra-model-{i}")
    with django_assert_num_queries(len(LOAD_QUERIES)):
        load_config_data(2)


def test_the_snapshot_is_cached_per_version_and_reloaded_after_a_change(
    example: None, django_assert_num_queries, django_capture_on_commit_callbacks
) -> None:
    first = current_snapshot()
    with django_assert_num_queries(0):  # within the version TTL: no query at all
        assert current_snapshot() is first

    with django_capture_on_commit_callbacks(execute=True):
        Strategy.objects.filter(key="balanced").update(description="changed")
        config_revision_bump()
    second = current_snapshot()

    assert second is not first
    assert second.version == first.version + 1


def test_every_version_is_kept_for_replay(example: None) -> None:
    snapshot = current_snapshot()

    row = ConfigSnapshot.objects.get(version=snapshot.version)
    assert stored_snapshot(snapshot.version) == snapshot
    assert json.loads(json.dumps(row.data)) == row.data


def test_runtime_state_reads_todays_and_this_months_spend_the_session_and_cooldowns(
    example: None,
) -> None:
    today, month = NOW.date(), NOW.date().replace(day=1)
    SpendLedger.objects.create(scope="global", key="", period="day", period_start=today, cost_usd=3)
    SpendLedger.objects.create(
        scope="global", key="", period="day", period_start=today - timedelta(days=1), cost_usd=99
    )
    SpendLedger.objects.create(
        scope="provider", key="anthropic", period="month", period_start=month, cost_usd=7
    )
    SessionUsage.objects.create(session_id="s-1", tokens=151_000)
    until = NOW + timedelta(seconds=30)
    cache.set(COOLDOWN_CACHE_KEY.format(model="gpt-4-turbo"), until.isoformat(), 60)

    state = load_runtime_state(snapshot=current_snapshot(), session_id="s-1", now=NOW)

    assert state.spend == {("global", "", "day"): 3.0, ("provider", "anthropic", "month"): 7.0}
    assert state.session_tokens == 151_000
    assert state.cooling_down == {"gpt-4-turbo": until}


def test_a_stored_decision_replays_identically_on_its_own_configuration(example: None) -> None:
    snapshot = current_snapshot()
    state = load_runtime_state(snapshot=snapshot, session_id=None, now=NOW)
    request = RouteRequest(text="Email jane@example.com the architecture review", agent="cto_agent")
    original = decide(request, snapshot, state, now=NOW)
    # What a decision row keeps, through JSON as the database would.
    stored = json.loads(
        json.dumps(
            {
                "inputs": decision_inputs(request, state, NOW),
                "features": original.to_dict()["features"],
                "version": original.config_version,
            }
        )
    )

    replayed = rerun(stored["inputs"], stored["features"], stored_snapshot(stored["version"]))

    assert replayed.to_dict() == original.to_dict()
    assert replayed.pii_types == ("email",)


def test_replaying_on_a_changed_configuration_shows_what_would_differ(
    example: None, django_capture_on_commit_callbacks
) -> None:
    snapshot = current_snapshot()
    state = load_runtime_state(snapshot=snapshot, session_id=None, now=NOW)
    request = RouteRequest(text="Architect the billing platform", agent="cto_agent")
    original = decide(request, snapshot, state, now=NOW)
    inputs = decision_inputs(request, state, NOW)
    features = original.to_dict()["features"]
    with django_capture_on_commit_callbacks(execute=True):
        StrategyOverride.objects.create(
            scope="global",
            strategy=Strategy.objects.get(key="privacy_first"),
            starts_at=NOW - timedelta(minutes=5),
            expires_at=NOW + timedelta(hours=1),
            reason="incident",
            author_label="ops",
        )
        config_revision_bump()

    now_decided = rerun(inputs, features, current_snapshot())

    assert original.chain[0].type == "cloud"
    assert now_decided.strategy == "privacy_first"
    assert {c.type for c in now_decided.chain} == {"local"}
