"""Overrides end by themselves: routing goes back to what it did before at the expiry,
and `overrides_expire` (the beat task) records that they ended, once.

The clock is moved with time_machine (routing) or passed in as `now=` (services and the
engine); nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client

from routing.choices import ChangeSource, ModelType, ProviderKind, Tier
from routing.engine import RouteRequest, RuntimeState, decide
from routing.models import (
    AgentModelOverride,
    ChangeLogEntry,
    ControlState,
    StrategyOverride,
    TaskOverride,
)
from routing.services import api_key_create, config_revision_current
from routing.services.overrides import (
    EXPIRED_LABEL,
    agent_model_override_set,
    force_local_set,
    overrides_expire,
    strategy_override_set,
    task_override_set,
)
from routing.snapshot import current_snapshot
from routing.tasks import expire_overrides
from tests.factories import make_agent, make_model, make_provider, make_strategy, make_user

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CLI = {"actor": None, "source": ChangeSource.CLI}


@pytest.fixture
def world() -> dict[str, Any]:
    local = make_model(
        key="local-a", provider=make_provider(kind=ProviderKind.SIMULATED, tier=Tier.LOCAL)
    )
    cloud = make_model(
        key="cloud-a",
        provider=make_provider(kind=ProviderKind.SIMULATED, tier=Tier.PREMIUM),
        type=ModelType.CLOUD,
        cost_input_per_1k=Decimal("0.01"),
        cost_output_per_1k=Decimal("0.03"),
    )
    return {
        "local": local,
        "cloud": cloud,
        "balanced": make_strategy(key="balanced", prefer_cloud=True),
        "privacy_first": make_strategy(key="privacy_first", allow_cloud=False),
        "agent": make_agent(key="backend"),
    }


def route_dry_run(key: str) -> dict[str, Any]:
    response = Client(headers={"Authorization": f"Bearer {key}"}).post(
        "/api/route",
        data=json.dumps({"messages": [{"role": "user", "content": "hello"}], "dry_run": True}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["decision"]


def chain_at(now: datetime) -> list[str]:
    decision = decide(RouteRequest(text="hello"), current_snapshot(), RuntimeState(), now=now)
    return [c.model for c in decision.chain]


def expiry_entries() -> list[ChangeLogEntry]:
    return list(ChangeLogEntry.objects.filter(action__endswith=".expire").order_by("id"))


def test_a_one_hour_strategy_override_applies_then_routing_goes_back_at_its_expiry(world) -> None:
    key = api_key_create(name="router").plaintext
    operator = Client()
    operator.force_login(make_user(role="operator"))

    with time_machine.travel(T0, tick=False) as clock:
        before = route_dry_run(key)
        created = operator.post(
            "/api/routing/strategy",
            data=json.dumps({"strategy": "privacy_first", "duration": "1h", "reason": "audit"}),
            content_type="application/json",
        )
        assert created.status_code == 201
        during = route_dry_run(key)
        clock.shift(HOUR - timedelta(seconds=1))
        last_second = route_dry_run(key)
        clock.shift(timedelta(seconds=1))
        after = route_dry_run(key)

    assert (before["strategy"], before["chain"][0]) == ("balanced", "cloud-a")
    assert (during["strategy"], during["chain"]) == ("privacy_first", ["local-a"])
    assert last_second["strategy"] == "privacy_first"
    assert (after["strategy"], after["strategy_source"]) == ("balanced", "default")
    assert after["chain"][0] == "cloud-a"


def test_overrides_expire_closes_it_at_its_expiry_with_a_system_change_log_entry(world) -> None:
    override = strategy_override_set(
        strategy=world["privacy_first"], duration=HOUR, reason="audit", now=T0, **CLI
    )
    version = config_revision_current()

    closed = overrides_expire(T0 + 2 * HOUR)

    assert closed == 1
    override.refresh_from_db()
    assert override.ended_at == T0 + HOUR
    assert override.ended_by_label == EXPIRED_LABEL
    [entry] = expiry_entries()
    assert (entry.source, entry.actor, entry.actor_label) == ("system", None, "system")
    assert (entry.action, entry.target_type, entry.target_key) == (
        "strategy_override.expire",
        "strategy_override",
        "global",
    )
    assert entry.before["strategy"] == "privacy_first"
    assert entry.before["expires_at"] == (T0 + HOUR).isoformat()
    assert entry.after is None
    assert entry.reason == f"Expired at {(T0 + HOUR).isoformat()}."
    assert config_revision_current() == version + 1


def test_running_the_expiry_twice_writes_nothing_more(world) -> None:
    strategy_override_set(
        strategy=world["privacy_first"], duration=HOUR, reason="audit", now=T0, **CLI
    )
    overrides_expire(T0 + 2 * HOUR)
    entries, version = ChangeLogEntry.objects.count(), config_revision_current()

    assert overrides_expire(T0 + 3 * HOUR) == 0
    assert ChangeLogEntry.objects.count() == entries
    assert config_revision_current() == version


def test_an_override_still_in_force_is_left_open(world) -> None:
    override = strategy_override_set(
        strategy=world["privacy_first"], duration=HOUR, reason="audit", now=T0, **CLI
    )

    assert overrides_expire(T0 + HOUR - timedelta(seconds=1)) == 0
    override.refresh_from_db()
    assert override.ended_at is None
    assert expiry_entries() == []


def test_model_and_task_overrides_expire_too_and_those_without_expiry_stay(world) -> None:
    other = make_agent(key="frontend")
    agent_model_override_set(
        agent=world["agent"], model=world["local"], reason="r", duration=HOUR, now=T0, **CLI
    )
    agent_model_override_set(agent=other, model=world["local"], reason="for good", now=T0, **CLI)
    task_override_set(
        task_id="t-1", model=world["cloud"], reason="r", duration=2 * HOUR, now=T0, **CLI
    )

    assert overrides_expire(T0 + 3 * HOUR) == 2
    assert [(e.action, e.target_key) for e in expiry_entries()] == [
        ("agent_model_override.expire", "backend"),
        ("task_override.expire", "t-1"),
    ]
    assert AgentModelOverride.objects.get(agent=other).ended_at is None
    assert TaskOverride.objects.get().ended_at == T0 + 2 * HOUR


def test_force_local_with_a_duration_expires_the_same_way(world) -> None:
    force_local_set(enabled=True, reason="outage", duration=timedelta(minutes=30), now=T0, **CLI)

    assert chain_at(T0 + timedelta(minutes=10)) == ["local-a"]
    assert chain_at(T0 + timedelta(minutes=30))[0] == "cloud-a"
    assert overrides_expire(T0 + timedelta(minutes=31)) == 1
    state = ControlState.objects.get()
    assert (state.force_local, state.expires_at, state.author_label) == (False, None, EXPIRED_LABEL)
    [entry] = expiry_entries()
    assert (entry.action, entry.source) == ("force_local.expire", "system")
    assert entry.before["enabled"] is True
    assert entry.after["enabled"] is False
    assert overrides_expire(T0 + HOUR) == 0


def test_force_local_without_a_duration_does_not_expire(world) -> None:
    force_local_set(enabled=True, reason="until fixed", now=T0, **CLI)

    assert overrides_expire(T0 + 30 * 24 * HOUR) == 0
    assert ControlState.objects.get().force_local is True


def test_setting_an_override_over_an_expired_one_records_the_expiry_first(world) -> None:
    strategy_override_set(
        strategy=world["privacy_first"], duration=HOUR, reason="first", now=T0, **CLI
    )

    strategy_override_set(
        strategy=world["balanced"], duration=HOUR, reason="second", now=T0 + 2 * HOUR, **CLI
    )

    expired, replaced_by = ChangeLogEntry.objects.filter(target_type="strategy_override").order_by(
        "id"
    )[1:]
    assert (expired.action, expired.source) == ("strategy_override.expire", "system")
    assert (replaced_by.action, replaced_by.before) == ("strategy_override.set", None)
    assert StrategyOverride.objects.filter(ended_at__isnull=True).count() == 1


def test_the_expire_overrides_task_closes_expired_overrides(world) -> None:
    strategy_override_set(
        strategy=world["privacy_first"], duration=HOUR, reason="audit", now=T0, **CLI
    )

    with time_machine.travel(T0 + 2 * HOUR, tick=False):
        expire_overrides.delay()  # eager without REDIS_URL, as in tests
        again = expire_overrides()

    assert StrategyOverride.objects.get().ended_at == T0 + HOUR
    assert again == 0
    assert len(expiry_entries()) == 1
