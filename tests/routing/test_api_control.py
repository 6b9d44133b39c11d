"""The runtime-control API (seed 002's runtime endpoints) and GET /api/status: every
endpoint with every role, the change log, bad input, and the effect on routing.

Requests go through Django's test client (no live server): session logins for people,
bearer API keys for services. `/api/route` is called as a dry run on simulated models.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from routing.api import control_serializers, control_views, errors
from routing.api.permissions import MSG_ROLE
from routing.choices import ChangeSource, ModelType, ProviderKind, Tier
from routing.models import (
    AgentModelOverride,
    ChangeLogEntry,
    ControlState,
    SessionUsage,
    StrategyOverride,
    TaskOverride,
)
from routing.selectors import burn_rate, status
from routing.services import api_key_create
from routing.services.durations import (
    MSG_NOT_A_DURATION,
    MSG_NOT_POSITIVE,
    MSG_TOO_LONG,
    parse_duration,
)
from routing.services.overrides import (
    agent_model_override_set,
    force_local_set,
    strategy_override_set,
    task_override_set,
)
from routing.snapshot import forget_snapshot
from tests.factories import (
    make_agent,
    make_budget,
    make_model,
    make_provider,
    make_spend_ledger,
    make_strategy,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
API_KEYS_READ_ONLY = "API keys may route requests and read status only."


# -- the world and the actors -----------------------------------------------------------------


@pytest.fixture
def world() -> dict[str, Any]:
    """Simulated local and cloud models, the default strategy and a local-only one, an
    agent whose primary model is the cloud one."""
    local_provider = make_provider(name="sim-local", kind=ProviderKind.SIMULATED, tier=Tier.LOCAL)
    cloud_provider = make_provider(name="sim-cloud", kind=ProviderKind.SIMULATED, tier=Tier.PREMIUM)
    local = make_model(key="local-a", provider=local_provider)
    cloud = make_model(
        key="cloud-a",
        provider=cloud_provider,
        type=ModelType.CLOUD,
        cost_input_per_1k=Decimal("0.01"),
        cost_output_per_1k=Decimal("0.03"),
    )
    balanced = make_strategy(key="balanced", prefer_cloud=True)
    privacy_first = make_strategy(key="privacy_first", allow_cloud=False)
    agent = make_agent(key="backend", primary_model=cloud)
    return {
        "local": local,
        "cloud": cloud,
        "balanced": balanced,
        "privacy_first": privacy_first,
        "agent": agent,
    }


def logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def with_key(plaintext: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {plaintext}"})


@pytest.fixture
def actor(request: pytest.FixtureRequest) -> Callable[[str], Client]:
    def make(name: str) -> Client:
        if name == "anonymous":
            return Client()
        if name == "service":
            return with_key(request.getfixturevalue("service_key").plaintext)
        user = request.getfixturevalue(
            {
                "viewer": "viewer_user",
                "operator": "operator_user",
                "admin_role": "admin_role_user",
                "superuser": "admin_user",
            }[name]
        )
        return logged_in(user)

    return make


@pytest.fixture
def operator(operator_user: Any) -> Client:
    return logged_in(operator_user)


@pytest.fixture
def admin(admin_role_user: Any) -> Client:
    return logged_in(admin_role_user)


def send(client: Client, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    call = getattr(client, method.lower())
    if body is None:
        return call(path)
    return call(path, data=json.dumps(body), content_type="application/json")


def route(world: dict[str, Any], **body: Any) -> dict[str, Any]:
    """A dry-run decision through POST /api/route with a service key."""
    if "route_key" not in world:
        world["route_key"] = api_key_create(name="router").plaintext
    key = world["route_key"]
    body = {"messages": [{"role": "user", "content": "hello there"}], "dry_run": True} | body
    response = send(with_key(key), "POST", "/api/route", body)
    assert response.status_code == 200, response.content
    return response.json()["decision"]


def error_of(response: Any) -> dict[str, Any]:
    return response.json()["error"]


# -- every endpoint with every role -----------------------------------------------------------

STRATEGY_BODY = {"strategy": "privacy_first", "duration": "2h", "reason": "incident 42"}
MODEL_BODY = {"model_id": "local-a", "reason": "privacy review"}
TASK_BODY = {"force_model": "cloud-a", "reason": "architecture decision"}
FORCE_LOCAL_BODY = {"enabled": True, "reason": "provider outage", "duration": "1h"}

# (method, path, body, who may: "read" = viewer and services, "operator", "admin", success)
ENDPOINTS = [
    ("GET", "/api/routing/strategy", None, "read", 200),
    ("POST", "/api/routing/strategy", STRATEGY_BODY, "operator", 201),
    ("DELETE", "/api/routing/strategy/override", None, "operator", 200),
    ("POST", "/api/agents/backend/model", MODEL_BODY, "operator", 201),
    ("DELETE", "/api/agents/backend/model", None, "operator", 200),
    ("POST", "/api/tasks/t-1/routing", TASK_BODY, "operator", 201),
    ("DELETE", "/api/tasks/t-1/routing", None, "operator", 200),
    ("POST", "/api/control/force-local", FORCE_LOCAL_BODY, "admin", 200),
    ("GET", "/api/status", None, "read", 200),
]
ALLOWED = {
    "anonymous": set(),
    "service": {"read"},
    "viewer": {"read"},
    "operator": {"read", "operator"},
    "admin_role": {"read", "operator", "admin"},
    "superuser": {"read", "operator", "admin"},
}


@pytest.fixture
def overrides_in_force(world: dict[str, Any]) -> None:
    """One of each, so every DELETE has something to end."""
    kw = {"actor": None, "source": ChangeSource.CLI, "reason": "set up"}
    strategy_override_set(strategy=world["balanced"], duration=timedelta(hours=1), **kw)
    agent_model_override_set(agent=world["agent"], model=world["cloud"], **kw)
    task_override_set(task_id="t-1", model=world["local"], **kw)


@pytest.mark.parametrize("who", list(ALLOWED))
@pytest.mark.parametrize(
    ("method", "path", "body", "needs", "success"),
    ENDPOINTS,
    ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS],
)
def test_each_endpoint_answers_each_role_as_its_permissions_say(
    actor, overrides_in_force, who, method, path, body, needs, success
) -> None:
    client = actor(who)
    entries = ChangeLogEntry.objects.count()

    response = send(client, method, path, body)

    if needs in ALLOWED[who]:
        assert response.status_code == success, response.content
        expected_entries = entries + (method != "GET")
    elif who == "anonymous":
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
        assert error_of(response)["code"] == errors.UNAUTHENTICATED
        expected_entries = entries
    else:
        assert response.status_code == 403
        assert error_of(response)["code"] == errors.FORBIDDEN
        expected_entries = entries
    assert ChangeLogEntry.objects.count() == expected_entries


def test_a_service_key_is_told_it_may_only_read_status(world, service_key) -> None:
    response = send(with_key(service_key.plaintext), "POST", "/api/routing/strategy", STRATEGY_BODY)

    assert response.status_code == 403
    assert error_of(response)["message"] == API_KEYS_READ_ONLY
    assert not StrategyOverride.objects.exists()


def test_a_key_without_the_status_scope_cannot_read_status(world) -> None:
    key = api_key_create(name="route-only", scopes=["route"]).plaintext

    assert send(with_key(key), "GET", "/api/status").status_code == 403
    assert send(with_key(key), "GET", "/api/routing/strategy").status_code == 403


def test_a_bad_key_is_refused_with_401(world) -> None:
    response = send(with_key("sb_nope_nope"), "GET", "/api/status")

    assert response.status_code == 401
    assert error_of(response)["code"] == errors.UNAUTHENTICATED


def test_a_user_without_a_role_is_forbidden_to_read(world, django_user_model) -> None:
    nobody = django_user_model.objects.create_user(username="nobody", password="x")

    response = send(logged_in(nobody), "GET", "/api/status")

    assert response.status_code == 403
    assert error_of(response)["message"] == MSG_ROLE.format(role="viewer")


def test_an_operator_turning_on_force_local_gets_403_and_nothing_changes(world, operator) -> None:
    response = send(operator, "POST", "/api/control/force-local", FORCE_LOCAL_BODY)

    assert response.status_code == 403
    assert error_of(response) == {
        "code": errors.FORBIDDEN,
        "message": MSG_ROLE.format(role="admin"),
        "details": {},
        "decision_id": None,
    }
    assert not ChangeLogEntry.objects.exists()
    assert not ControlState.objects.filter(force_local=True).exists()


def test_session_writes_need_the_csrf_token(world, operator_user) -> None:
    client = logged_in(operator_user, enforce_csrf_checks=True)

    refused = send(client, "POST", "/api/routing/strategy", STRATEGY_BODY)

    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    assert not ChangeLogEntry.objects.exists()
    token = "a" * 32
    client.cookies["csrftoken"] = token
    accepted = client.post(
        "/api/routing/strategy",
        data=json.dumps(STRATEGY_BODY),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 201, accepted.content


# -- the change log ---------------------------------------------------------------------------


def only_entry() -> ChangeLogEntry:
    entry = ChangeLogEntry.objects.get()
    assert entry.source == ChangeSource.API
    return entry


def test_setting_a_strategy_override_logs_who_what_and_why(world, operator, operator_user) -> None:
    with time_machine.travel(NOW, tick=False):
        send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY)

    entry = only_entry()
    assert (entry.actor, entry.actor_label) == (operator_user, "operator")
    assert (entry.action, entry.target_type, entry.target_key) == (
        "strategy_override.set",
        "strategy_override",
        "global",
    )
    assert entry.before is None
    assert entry.after == {
        "id": StrategyOverride.objects.get().pk,
        "scope": "global",
        "agent": None,
        "strategy": "privacy_first",
        "starts_at": NOW.isoformat(),
        "expires_at": (NOW + timedelta(hours=2)).isoformat(),
        "reason": "incident 42",
        "author": "operator",
    }
    assert entry.reason == "incident 42"


def test_a_second_override_for_the_same_target_replaces_the_first(world, operator) -> None:
    first = send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY).json()["override"]

    second = send(
        operator,
        "POST",
        "/api/routing/strategy",
        STRATEGY_BODY | {"strategy": "balanced", "reason": "rollback"},
    )

    assert second.status_code == 201
    assert second.json()["active"]["strategy"] == "balanced"
    assert [o["strategy"] for o in second.json()["overrides"]] == ["balanced"]
    assert StrategyOverride.objects.filter(ended_at__isnull=True).count() == 1
    replaced = StrategyOverride.objects.get(pk=first["id"])
    assert replaced.ended_at is not None
    assert replaced.ended_by_label == "operator"
    entry = ChangeLogEntry.objects.order_by("-id").first()
    assert entry.before["strategy"] == "privacy_first"
    assert entry.after["strategy"] == "balanced"
    assert ChangeLogEntry.objects.count() == 2


def test_global_and_agent_strategy_overrides_are_separate_targets(world, operator) -> None:
    send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY)
    body = send(
        operator,
        "POST",
        "/api/routing/strategy",
        STRATEGY_BODY | {"strategy": "balanced", "agent": "backend"},
    ).json()

    assert [(o["agent"], o["strategy"]) for o in body["overrides"]] == [
        (None, "privacy_first"),
        ("backend", "balanced"),
    ]
    assert ChangeLogEntry.objects.order_by("-id").first().target_key == "backend"


def test_ending_a_strategy_override_logs_it_and_reverts_the_state(world, operator) -> None:
    send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY)

    response = operator.delete(
        "/api/routing/strategy/override",
        data=json.dumps({"reason": "incident over"}),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["active"] == {
        "strategy": "balanced",
        "source": "default",
        "expires_at": None,
        "configured": True,
    }
    assert response.json()["ended"]["strategy"] == "privacy_first"
    entry = ChangeLogEntry.objects.order_by("-id").first()
    assert (entry.action, entry.reason, entry.after) == (
        "strategy_override.end",
        "incident over",
        None,
    )
    assert entry.before["strategy"] == "privacy_first"


def test_an_agent_override_is_ended_with_the_agent_in_the_query_string(world, operator) -> None:
    send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY | {"agent": "backend"})

    global_end = operator.delete("/api/routing/strategy/override")
    agent_end = operator.delete("/api/routing/strategy/override?agent=backend")

    assert global_end.status_code == 404
    assert error_of(global_end) == {
        "code": errors.NOT_FOUND,
        "message": control_views.MSG_NO_STRATEGY_OVERRIDE.format(target="all requests (global)"),
        "details": {},
        "decision_id": None,
    }
    assert agent_end.status_code == 200
    assert agent_end.json()["overrides"] == []


def test_an_agent_model_override_is_logged_and_shown(world, operator) -> None:
    with time_machine.travel(NOW, tick=False):
        response = send(
            operator, "POST", "/api/agents/backend/model", MODEL_BODY | {"duration": "90m"}
        )

    assert response.status_code == 201
    assert response.json()["agent"] == "backend"
    assert response.json()["model_override"] | {"remaining_seconds": None} == {
        "id": AgentModelOverride.objects.get().pk,
        "agent": "backend",
        "model": "local-a",
        "starts_at": NOW.isoformat(),
        "expires_at": (NOW + timedelta(minutes=90)).isoformat(),
        "remaining_seconds": None,
        "reason": "privacy review",
    }
    entry = only_entry()
    assert (entry.action, entry.target_key, entry.reason) == (
        "agent_model_override.set",
        "backend",
        "privacy review",
    )
    assert entry.after["model"] == "local-a"


def test_an_agent_model_override_without_a_duration_has_no_expiry(world, operator) -> None:
    body = send(operator, "POST", "/api/agents/backend/model", MODEL_BODY).json()

    assert body["model_override"]["expires_at"] is None
    ended = operator.delete("/api/agents/backend/model")
    assert ended.status_code == 200
    assert ended.json()["model_override"] is None
    assert ChangeLogEntry.objects.order_by("-id").first().action == "agent_model_override.end"


def test_a_task_override_is_logged_shown_and_ended(world, operator) -> None:
    body = send(operator, "POST", "/api/tasks/t-9/routing", TASK_BODY | {"duration": "1d"}).json()

    assert body["task_id"] == "t-9"
    assert body["override"]["model"] == "cloud-a"
    assert only_entry().target_key == "t-9"
    assert operator.delete("/api/tasks/t-9/routing").json()["override"] is None
    assert operator.delete("/api/tasks/t-9/routing").status_code == 404
    assert TaskOverride.objects.get().ended_at is not None


def test_an_admin_turns_force_local_on_for_a_while_and_off(world, admin) -> None:
    with time_machine.travel(NOW, tick=False):
        on = send(admin, "POST", "/api/control/force-local", FORCE_LOCAL_BODY)
        off = send(
            admin, "POST", "/api/control/force-local", {"enabled": False, "reason": "resolved"}
        )

    assert on.status_code == 200
    assert on.json() == {
        "enabled": True,
        "reason": "provider outage",
        "expires_at": (NOW + timedelta(hours=1)).isoformat(),
        "environment_forces_local": False,
    }
    assert off.json()["enabled"] is False
    turned_on, turned_off = ChangeLogEntry.objects.order_by("id")
    assert (turned_on.action, turned_on.actor_label, turned_on.source) == (
        "force_local.on",
        "admin-role",
        "api",
    )
    assert turned_on.before["enabled"] is False
    assert turned_on.after["enabled"] is True
    assert (turned_off.action, turned_off.before["enabled"], turned_off.after["enabled"]) == (
        "force_local.off",
        True,
        False,
    )
    assert turned_off.reason == "resolved"


# -- bad input --------------------------------------------------------------------------------

BAD_INPUT = [
    ("/api/routing/strategy", STRATEGY_BODY | {"duration": "soon"}, "duration"),
    ("/api/routing/strategy", STRATEGY_BODY | {"duration": "0h"}, "duration"),
    ("/api/routing/strategy", STRATEGY_BODY | {"duration": "-2h"}, "duration"),
    ("/api/routing/strategy", STRATEGY_BODY | {"duration": "8d"}, "duration"),
    ("/api/routing/strategy", STRATEGY_BODY | {"duration": "2 hours"}, "duration"),
    (
        "/api/routing/strategy",
        {k: v for k, v in STRATEGY_BODY.items() if k != "duration"},
        "duration",
    ),
    ("/api/routing/strategy", STRATEGY_BODY | {"strategy": "yolo"}, "strategy"),
    ("/api/routing/strategy", STRATEGY_BODY | {"agent": "ghost"}, "agent"),
    ("/api/routing/strategy", {k: v for k, v in STRATEGY_BODY.items() if k != "reason"}, "reason"),
    ("/api/routing/strategy", STRATEGY_BODY | {"reason": "   "}, "reason"),
    ("/api/routing/strategy", STRATEGY_BODY | {"duraton": "2h"}, "duraton"),
    ("/api/agents/backend/model", MODEL_BODY | {"model_id": "gpt-99"}, "model_id"),
    ("/api/agents/backend/model", MODEL_BODY | {"duration": "0m"}, "duration"),
    ("/api/agents/backend/model", {"model_id": "local-a"}, "reason"),
    ("/api/tasks/t-1/routing", TASK_BODY | {"force_model": "gpt-99"}, "force_model"),
    ("/api/tasks/t-1/routing", TASK_BODY | {"duration": "forever"}, "duration"),
    (f"/api/tasks/{'t' * 201}/routing", TASK_BODY, "task_id"),
    ("/api/control/force-local", {"reason": "why not"}, "enabled"),
    ("/api/control/force-local", FORCE_LOCAL_BODY | {"enabled": False}, "duration"),
    ("/api/control/force-local", {"enabled": True}, "reason"),
]


@pytest.mark.parametrize(
    ("path", "body", "field"), BAD_INPUT, ids=[f"{p[:30]} {f}" for p, _, f in BAD_INPUT]
)
def test_bad_input_is_a_400_with_field_errors_and_changes_nothing(
    world, admin, path, body, field
) -> None:
    response = send(admin, "POST", path, body)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["code"], error["message"]) == (errors.INVALID_REQUEST, errors.MSG_INVALID)
    assert field in error["details"]["fields"]
    assert not ChangeLogEntry.objects.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_durations_read_as_operators_write_them(text, expected) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("duration", "message"),
    [
        ("soon", MSG_NOT_A_DURATION.format(value="soon")),
        ("0h", MSG_NOT_POSITIVE.format(value="0h")),
        ("-1h", MSG_NOT_POSITIVE.format(value="-1h")),
        ("2h", MSG_TOO_LONG.format(value="2h", limit="1h30m")),
    ],
)
def test_a_bad_duration_says_what_is_wrong(world, operator, settings, duration, message) -> None:
    settings.SWITCHBOARD_MAX_OVERRIDE_SECONDS = 5400

    response = send(
        operator, "POST", "/api/routing/strategy", STRATEGY_BODY | {"duration": duration}
    )

    assert error_of(response)["details"]["fields"]["duration"] == [message]


def test_an_unknown_strategy_lists_the_configured_ones(world, operator) -> None:
    response = send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY | {"strategy": "x"})

    assert error_of(response)["details"]["fields"]["strategy"] == [
        control_serializers.MSG_UNKNOWN_STRATEGY.format(key="x", known="balanced, privacy_first")
    ]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_an_unknown_agent_in_the_url_is_a_404(world, operator, method) -> None:
    response = send(operator, method, "/api/agents/ghost/model", MODEL_BODY)

    assert response.status_code == 404
    assert error_of(response) == {
        "code": errors.UNKNOWN_AGENT,
        "message": control_views.MSG_UNKNOWN_AGENT.format(agent="ghost"),
        "details": {"agent": "ghost"},
        "decision_id": None,
    }


def test_an_unknown_agent_when_ending_an_override_is_a_field_error(world, operator) -> None:
    response = operator.delete("/api/routing/strategy/override?agent=ghost")

    assert response.status_code == 400
    assert "agent" in error_of(response)["details"]["fields"]


def test_malformed_json_is_a_400_in_the_envelope(world, operator) -> None:
    response = operator.post("/api/routing/strategy", data="{", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == errors.INVALID_REQUEST


# -- the state answered -----------------------------------------------------------------------


def test_the_strategy_endpoint_shows_the_default_and_the_override_with_its_expiry(
    world, operator, viewer_user
) -> None:
    with time_machine.travel(NOW, tick=False):
        created = send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY)
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        shown = send(logged_in(viewer_user), "GET", "/api/routing/strategy")

    expires = (NOW + timedelta(hours=2)).isoformat()
    assert created.json()["active"] == {
        "strategy": "privacy_first",
        "source": "global override",
        "expires_at": expires,
        "configured": True,
    }
    body = shown.json()
    assert body["default_strategy"] == "balanced"
    assert body["active"]["strategy"] == "privacy_first"
    assert body["overrides"] == [
        {
            "id": created.json()["override"]["id"],
            "agent": None,
            "strategy": "privacy_first",
            "starts_at": NOW.isoformat(),
            "expires_at": expires,
            "remaining_seconds": 90 * 60,
            "reason": "incident 42",
        }
    ]


def test_status_shows_every_override_and_force_local(world, operator, admin) -> None:
    send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY | {"agent": "backend"})
    send(operator, "POST", "/api/agents/backend/model", MODEL_BODY)
    send(operator, "POST", "/api/tasks/t-1/routing", TASK_BODY)
    send(admin, "POST", "/api/control/force-local", FORCE_LOCAL_BODY)

    body = send(operator, "GET", "/api/status").json()

    assert body["strategy"]["active"]["strategy"] == "balanced"
    assert [(o["agent"], o["strategy"]) for o in body["overrides"]["strategy"]] == [
        ("backend", "privacy_first")
    ]
    assert [(o["agent"], o["model"]) for o in body["overrides"]["agent_model"]] == [
        ("backend", "local-a")
    ]
    assert [(o["task_id"], o["model"]) for o in body["overrides"]["task"]] == [("t-1", "cloud-a")]
    assert body["force_local"]["enabled"] is True
    assert body["force_local"]["reason"] == "provider outage"


def test_status_shows_spend_against_each_budget_with_its_warning_level(world, service_key) -> None:
    make_budget(limit_usd=Decimal("10"), warning_threshold=0.8)
    make_budget(model=world["cloud"], limit_usd=Decimal("2"))
    make_budget(agent=world["agent"], limit_usd=Decimal("100"), period="month")
    make_spend_ledger(cost_usd=Decimal("9"), period_start=NOW.date())
    make_spend_ledger(
        scope="model", key="cloud-a", cost_usd=Decimal("2.5"), period_start=NOW.date()
    )
    make_spend_ledger(
        scope="agent",
        key="backend",
        period="month",
        cost_usd=Decimal("5"),
        period_start=NOW.date().replace(day=1),
    )

    with time_machine.travel(NOW, tick=False):
        body = send(with_key(service_key.plaintext), "GET", "/api/status").json()

    levels = {
        (b["scope"], b["target"], b["period"]): (b["spent_usd"], b["share"], b["warning_level"])
        for b in body["budgets"]
    }
    assert levels == {
        ("global", "", "day"): (9.0, 0.9, "warning"),
        ("model", "cloud-a", "day"): (2.5, 1.25, "critical"),
        ("agent", "backend", "month"): (5.0, 0.05, "normal"),
    }
    assert body["warning_level"] == "critical"


def test_the_burn_rate_projects_when_a_daily_budget_runs_out(world) -> None:
    make_budget(limit_usd=Decimal("10"))
    make_spend_ledger(cost_usd=Decimal("3"), period_start=NOW.date())

    with time_machine.travel(NOW, tick=False):  # noon: $3 in 12 hours
        burn = status(NOW)["budgets"][0]["burn_rate"]

    assert burn == {
        "usd_per_hour": 0.25,
        "projected_day_usd": 6.0,
        "exhausted": False,
        "runs_out_at": None,  # $6 by midnight: not on course to reach $10
    }


@pytest.mark.parametrize(
    ("spent", "per_hour", "by_midnight", "exhausted", "runs_out_at"),
    [
        # At noon, $6 of $10 is $0.50/h: the limit is reached 8 hours later.
        (6.0, 0.5, 12.0, False, (NOW + timedelta(hours=8)).isoformat()),
        (3.0, 0.25, 6.0, False, None),  # $6 by midnight: not on course
        (0.0, 0.0, 0.0, False, None),
        (12.0, 1.0, 24.0, True, None),  # already over: nothing left to run out
    ],
)
def test_the_burn_rate_projects_todays_pace_to_midnight_and_to_the_limit(
    spent, per_hour, by_midnight, exhausted, runs_out_at
) -> None:
    assert burn_rate(spent, 10.0, NOW) == {
        "usd_per_hour": per_hour,
        "projected_day_usd": by_midnight,
        "exhausted": exhausted,
        "runs_out_at": runs_out_at,
    }


def test_status_shows_a_sessions_tokens_and_warning_level(world, viewer_user) -> None:
    SessionUsage.objects.create(session_id="s-1", tokens=160_000)

    body = send(logged_in(viewer_user), "GET", "/api/status?session_id=s-1").json()

    assert body["session"] == {
        "session_id": "s-1",
        "total_tokens": 160_000,
        "warning_threshold": 150_000,
        "auto_switch_threshold": 180_000,
        "percent_used": 88.9,
        "warning_level": "warning",
        "message": "Approaching the token limit. Routine tasks go to local models.",
    }
    assert body["warning_level"] == "warning"
    assert send(logged_in(viewer_user), "GET", "/api/status").json()["session"] is None


def test_status_reads_spend_and_the_session_in_one_query_once_configured(
    world, django_assert_num_queries
) -> None:
    make_budget()
    status(NOW, session_id="s-1")  # loads and caches the configuration snapshot
    forget_snapshot()

    # 1. the config version (unchanged, so the snapshot is reused)
    # 2. today's and this month's spend buckets, and the session's tokens
    with django_assert_num_queries(2):
        status(NOW, session_id="s-1")


# -- the effect on routing --------------------------------------------------------------------


def test_a_strategy_override_changes_how_requests_are_routed(world, operator) -> None:
    before = route(world)
    send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY)
    during = route(world)
    operator.delete("/api/routing/strategy/override")
    after = route(world)

    assert (before["strategy"], before["chain"][0]) == ("balanced", "cloud-a")
    assert during["strategy"] == "privacy_first"
    assert during["strategy_source"].startswith("global override")
    assert during["chain"] == ["local-a"]
    assert (after["strategy"], after["chain"][0]) == ("balanced", "cloud-a")


def test_an_agent_strategy_override_applies_to_that_agent_only(world, operator) -> None:
    send(operator, "POST", "/api/routing/strategy", STRATEGY_BODY | {"agent": "backend"})

    assert route(world, agent="backend")["strategy"] == "privacy_first"
    assert route(world)["strategy"] == "balanced"


def test_an_agent_model_override_pins_the_agent(world, operator) -> None:
    assert route(world, agent="backend")["chain"][0] == "cloud-a"

    send(operator, "POST", "/api/agents/backend/model", MODEL_BODY)

    assert route(world, agent="backend")["chain"][0] == "local-a"


def test_a_task_override_forces_the_task_onto_its_model(world, operator) -> None:
    send(operator, "POST", "/api/tasks/t-7/routing", TASK_BODY | {"force_model": "local-a"})

    assert route(world, task={"id": "t-7"})["chain"][0] == "local-a"
    assert route(world, task={"id": "t-8"})["chain"][0] == "cloud-a"


def test_force_local_keeps_every_request_on_local_models(world, admin) -> None:
    send(admin, "POST", "/api/control/force-local", FORCE_LOCAL_BODY)

    decision = route(world)

    assert decision["chain"] == ["local-a"]
    assert decision["privacy"]["local_only"] is True


# -- the status command -----------------------------------------------------------------------


def test_the_status_command_prints_overrides_budgets_and_the_session(world) -> None:
    with time_machine.travel(NOW, tick=False):
        strategy_override_set(
            strategy=world["privacy_first"],
            duration=timedelta(hours=2),
            reason="incident 42",
            actor=None,
            source=ChangeSource.CLI,
        )
        force_local_set(enabled=True, reason="outage", actor=None, source=ChangeSource.CLI)
        make_budget(limit_usd=Decimal("10"))
        make_spend_ledger(cost_usd=Decimal("6"), period_start=NOW.date())
        SessionUsage.objects.create(session_id="s-1", tokens=190_000)
        out = StringIO()
        call_command("status", "--session", "s-1", stdout=out)

    text = out.getvalue()
    assert "Strategy: privacy_first (global override, until 2026-11-25 14:00 UTC)" in text
    assert "strategy  global -> privacy_first until 2026-11-25 14:00 UTC (2h00m left)" in text
    assert "Force-local: ON until turned off: outage" in text
    assert "$6.00 of $10.00 (60%)  normal" in text
    assert "runs out at 2026-11-25 20:00 UTC" in text
    assert "\nWarning level: critical\n" in text
    assert "Session s-1:\n  Total tokens: 190,000 (105.6%)\n  Warning level: critical" in text


def test_the_status_command_prints_json_with_json(world) -> None:
    out = StringIO()

    call_command("status", "--json", stdout=out)

    body = json.loads(out.getvalue())
    assert body["strategy"]["active"]["strategy"] == "balanced"
    assert body["session"] is None
