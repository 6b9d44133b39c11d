"""The registry CRUD API: providers, models, agents, rules, strategies, budgets and API
keys, with every role, the change log and configuration revision each write leaves, and
bad input answered in the shared envelope."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from routing.api import crud_views, errors
from routing.api.crud_serializers import MSG_NO_SCOPES, MSG_TARGET_UNEXPECTED, MSG_UNKNOWN_TARGET
from routing.api.permissions import MSG_ROLE
from routing.choices import ApiScope, ModelType, RuleAction
from routing.models import ApiKey, Budget, ChangeLogEntry, LLMModel, Provider, RoutingRule, Strategy
from routing.services import api_key_create, api_key_hash, config_revision_current, registry_writes
from tests.factories import (
    make_agent,
    make_budget,
    make_model,
    make_provider,
    make_rule,
    make_strategy,
    make_user,
)

pytestmark = pytest.mark.django_db

_names = itertools.count(1)


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


@dataclass(frozen=True)
class Resource:
    """One CRUD endpoint: how to make a row (returning its URL lookup), a body that
    creates a new one, and a valid change to a row."""

    path: str
    target_type: str
    make: Callable[[], str]
    new: Callable[[], dict[str, Any]]
    change: dict[str, Any]
    lookup: str = "key"
    delete_action: str = "delete"

    def __str__(self) -> str:
        return self.path

    def detail(self, lookup: str) -> str:
        return f"{self.path}/{lookup}"


RESOURCES = [
    Resource(
        "/api/providers",
        "provider",
        make=lambda: make_provider().name,
        new=lambda: {"name": _name("new-provider"), "kind": "simulated", "tier": "local"},
        change={"timeout_s": 12.5},
        lookup="name",
    ),
    Resource(
        "/api/models",
        "llmmodel",
        make=lambda: make_model().key,
        new=lambda: {
            "key": _name("new-model"),
            "provider": make_provider().name,
            "model_id": "llama3",
            "type": "local",
        },
        change={"enabled": False},
    ),
    Resource(
        "/api/agents",
        "agent",
        make=lambda: make_agent().key,
        new=lambda: {"key": _name("new-agent"), "name": "New", "primary_model": make_model().key},
        change={"description": "changed"},
    ),
    Resource(
        "/api/rules",
        "routingrule",
        make=lambda: str(make_rule().pk),
        new=lambda: {
            "scope": "global",
            "name": _name("new-rule"),
            "position": 900 + next(_names),
            "condition": "task.complexity > 7",
            "action": "deny",
        },
        change={"enabled": False},
        lookup="id",
    ),
    Resource(
        "/api/strategies",
        "strategy",
        make=lambda: make_strategy().key,
        new=lambda: {"key": _name("new-strategy"), "prefer_local": True},
        change={"description": "changed"},
    ),
    Resource(
        "/api/budgets",
        "budget",
        make=lambda: str(make_budget(agent=make_agent()).pk),
        new=lambda: {
            "scope": "agent",
            "target": make_agent().key,
            "period": "day",
            "limit_usd": "5.00",
        },
        change={"limit_usd": "20.00000000"},
        lookup="id",
    ),
    Resource(
        "/api/api-keys",
        "api_key",
        make=lambda: api_key_create(name=_name("key")).api_key.name,
        new=lambda: {"name": _name("new-key"), "scopes": ["route"]},
        change={"scopes": ["status"]},
        lookup="name",
        delete_action="revoke",
    ),
]

by_path = pytest.mark.parametrize("resource", RESOURCES, ids=str)


def client_for(user: Any = None, *, bearer: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    if bearer is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")
    return client


def every_request(client: APIClient, resource: Resource) -> list[tuple[str, Any]]:
    """(what, response) for list, retrieve, create, update and delete."""
    lookup = resource.make()
    return [
        ("list", client.get(resource.path)),
        ("retrieve", client.get(resource.detail(lookup))),
        ("create", client.post(resource.path, resource.new(), format="json")),
        ("update", client.patch(resource.detail(lookup), resource.change, format="json")),
        ("delete", client.delete(resource.detail(lookup))),
    ]


def fields_of(response: Any) -> dict[str, Any]:
    """The field errors of a 400 in the shared envelope."""
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == errors.INVALID_REQUEST
    return error["details"]["fields"]


# -- roles ------------------------------------------------------------------------------


@by_path
def test_anonymous_requests_get_401_on_everything(resource: Resource) -> None:
    for what, response in every_request(client_for(), resource):
        assert response.status_code == 401, what
        assert response.json()["error"]["code"] == errors.UNAUTHENTICATED
        assert response["WWW-Authenticate"] == "Bearer"


@by_path
def test_a_service_key_gets_403_on_everything(resource: Resource, service_key: Any) -> None:
    for what, response in every_request(client_for(bearer=service_key.plaintext), resource):
        assert response.status_code == 403, what
        assert response.json()["error"]["code"] == errors.FORBIDDEN


def test_a_revoked_or_unknown_key_gets_401_not_403(service_key: Any) -> None:
    ApiKey.objects.filter(pk=service_key.api_key.pk).update(is_active=False)

    revoked = client_for(bearer=service_key.plaintext).get("/api/providers")
    unknown = client_for(bearer="sb_0000_not-a-key").get("/api/providers")

    assert revoked.status_code == unknown.status_code == 401
    assert revoked.json()["error"]["message"] == errors.MSG_BAD_KEY


def test_a_user_without_a_role_may_not_even_read() -> None:
    response = client_for(make_user(role=None)).get("/api/providers")

    assert response.status_code == 403
    assert response.json()["error"]["message"] == MSG_ROLE.format(role="viewer")


@by_path
def test_a_viewer_reads_every_resource(resource: Resource, viewer_user: Any) -> None:
    lookup = resource.make()
    client = client_for(viewer_user)

    listed = client.get(resource.path)
    shown = client.get(resource.detail(lookup))

    assert listed.status_code == 200
    assert listed.json()["count"] == 1
    assert shown.status_code == 200


@by_path
@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_may_not_write_and_nothing_is_logged(
    resource: Resource, role: str
) -> None:
    client = client_for(make_user(role=role))
    lookup = resource.make()
    entries, version = ChangeLogEntry.objects.count(), config_revision_current()

    responses = {
        "create": client.post(resource.path, resource.new(), format="json"),
        "update": client.patch(resource.detail(lookup), resource.change, format="json"),
        "delete": client.delete(resource.detail(lookup)),
    }

    for what, response in responses.items():
        assert response.status_code == 403, what
        assert response.json()["error"]["message"] == MSG_ROLE.format(role="admin")
    assert ChangeLogEntry.objects.count() == entries
    assert config_revision_current() == version


# -- admin writes: change log and configuration revision ---------------------------------


@by_path
def test_an_admin_creates_updates_and_deletes_each_leaving_a_change_log_entry_and_a_new_revision(
    resource: Resource, admin_role_user: Any
) -> None:
    client = client_for(admin_role_user)
    version = config_revision_current()

    created = client.post(resource.path, resource.new(), format="json")
    assert created.status_code == 201, created.content
    lookup = str(created.json()[resource.lookup])
    entry = ChangeLogEntry.objects.latest("id")
    assert entry.action == f"{resource.target_type}.create"
    assert (entry.source, entry.actor, entry.target_type) == (
        "api",
        admin_role_user,
        resource.target_type,
    )
    assert entry.before is None
    assert entry.after is not None
    assert config_revision_current() == version + 1

    updated = client.patch(resource.detail(lookup), resource.change, format="json")
    assert updated.status_code == 200, updated.content
    entry = ChangeLogEntry.objects.latest("id")
    assert entry.action == f"{resource.target_type}.update"
    for name, value in resource.change.items():
        assert updated.json()[name] == value
        assert entry.after[name] != entry.before[name]
    assert config_revision_current() == version + 2

    deleted = client.delete(resource.detail(lookup))
    assert deleted.status_code == 204
    entry = ChangeLogEntry.objects.latest("id")
    assert entry.action == f"{resource.target_type}.{resource.delete_action}"
    assert entry.before is not None
    assert config_revision_current() == version + 3


def test_a_superuser_is_an_admin(admin_user: Any) -> None:
    response = client_for(admin_user).post("/api/strategies", {"key": "frugal"}, format="json")

    assert response.status_code == 201
    assert ChangeLogEntry.objects.get().actor_label == admin_user.username


def test_an_update_logs_the_row_before_and_after_and_why(admin_role_user: Any) -> None:
    make_provider(name="groq", timeout_s=30)

    client_for(admin_role_user).patch(
        "/api/providers/groq", {"timeout_s": 12.5, "reason": "groq is slow today"}, format="json"
    )

    entry = ChangeLogEntry.objects.get()
    assert (entry.target_type, entry.target_key, entry.actor_label) == (
        "provider",
        "groq",
        "admin-role",
    )
    assert entry.before["timeout_s"] == 30
    assert entry.after["timeout_s"] == 12.5
    assert entry.reason == "groq is slow today"


def test_a_write_and_its_change_log_entry_commit_together(
    admin_role_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> int:
        raise RuntimeError("revision store down")

    monkeypatch.setattr(registry_writes, "config_revision_bump", fail)

    with pytest.raises(RuntimeError):
        client_for(admin_role_user).post(
            "/api/providers", {"name": "groq", "kind": "simulated", "tier": "local"}, format="json"
        )

    assert not Provider.objects.filter(name="groq").exists()
    assert not ChangeLogEntry.objects.exists()


def test_deleting_a_row_still_in_use_is_a_400_naming_its_users(admin_role_user: Any) -> None:
    provider = make_provider(name="groq")
    make_model(key="groq-llama", provider=provider)

    response = client_for(admin_role_user).delete("/api/providers/groq")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == crud_views.MSG_IN_USE.format(target="groq", users="model groq-llama")
    assert error["details"] == {"used_by": ["model groq-llama"]}
    assert Provider.objects.filter(name="groq").exists()
    assert not ChangeLogEntry.objects.exists()


# -- bad input ---------------------------------------------------------------------------


def test_validation_errors_come_in_the_shared_envelope(admin_role_user: Any) -> None:
    response = client_for(admin_role_user).post(
        "/api/providers",
        {"name": "Not A Name", "kind": "carrier-pigeon", "tier": "local"},
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == errors.INVALID_REQUEST
    assert body["error"]["message"] == errors.MSG_INVALID
    assert body["error"]["decision_id"] is None
    assert set(body["error"]["details"]["fields"]) == {"name", "kind"}
    assert body["error"]["details"]["fields"]["kind"] == ['"carrier-pigeon" is not a valid choice.']
    assert not ChangeLogEntry.objects.exists()


def test_a_database_constraint_is_a_400_not_a_server_error(admin_role_user: Any) -> None:
    response = client_for(admin_role_user).post(
        "/api/providers",
        {"name": "slow", "kind": "simulated", "tier": "local", "timeout_s": 0},
        format="json",
    )

    assert "provider_timeout_positive" in fields_of(response)["non_field_errors"][0]


def test_a_rule_with_a_bad_condition_is_a_400_giving_the_position(admin_role_user: Any) -> None:
    response = client_for(admin_role_user).post(
        "/api/rules",
        {
            "scope": "global",
            "name": "no-shell",
            "position": 1,
            "condition": "(task.complexity > 5 and\n  shell(1))",
            "action": "deny",
        },
        format="json",
    )

    assert fields_of(response)["condition"] == ["line 2, column 3: function calls are not allowed"]
    assert not RoutingRule.objects.exists()
    assert not ChangeLogEntry.objects.exists()


def test_changing_a_rule_to_a_bad_condition_is_a_400_and_keeps_the_rule(
    admin_role_user: Any,
) -> None:
    rule = make_rule(condition="task.complexity > 5")

    response = client_for(admin_role_user).patch(
        f"/api/rules/{rule.pk}", {"condition": "task.complexity >"}, format="json"
    )

    assert fields_of(response)["condition"] == ["line 1, column 18: unexpected end of condition"]
    rule.refresh_from_db()
    assert rule.condition == "task.complexity > 5"


def test_a_rule_checks_its_scope_and_model_like_the_admin_does(admin_role_user: Any) -> None:
    client = client_for(admin_role_user)
    base = {"condition": "task.complexity > 5", "position": 1}

    agentless = client.post(
        "/api/rules", {**base, "scope": "agent", "action": "deny"}, format="json"
    )
    modelless = client.post(
        "/api/rules",
        {**base, "scope": "global", "name": "r", "action": RuleAction.USE_MODEL},
        format="json",
    )

    assert fields_of(agentless)["non_field_errors"] == [
        "Agent rules need an agent; global rules have none."
    ]
    assert fields_of(modelless)["model"] == ["A 'use a model' rule must name the model."]


def test_an_agent_rule_names_its_agent_and_model_by_key(admin_role_user: Any) -> None:
    agent = make_agent(key="cto")
    make_model(key="claude")

    response = client_for(admin_role_user).post(
        "/api/rules",
        {
            "scope": "agent",
            "agent": "cto",
            "position": 1,
            "condition": "task.complexity > 8",
            "action": "use_model",
            "model": "claude",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["agent"] == "cto"
    rule = RoutingRule.objects.get()
    assert (rule.agent, rule.model.key) == (agent, "claude")
    assert ChangeLogEntry.objects.get().target_key == str(rule.pk)


def test_an_unknown_model_in_an_agents_preferences_is_a_400(admin_role_user: Any) -> None:
    make_model(key="llama3")

    response = client_for(admin_role_user).post(
        "/api/agents",
        {"key": "cto", "name": "CTO", "primary_model": "llama3", "fallback_model": "gpt-9"},
        format="json",
    )

    assert fields_of(response) == {"fallback_model": ["Object with key=gpt-9 does not exist."]}


def test_an_agent_shows_its_model_preferences_by_key(viewer_user: Any) -> None:
    make_agent(
        key="cto",
        primary_model=make_model(key="claude"),
        local_alternative=make_model(key="llama3"),
    )

    body = client_for(viewer_user).get("/api/agents/cto").json()

    assert body["primary_model"] == "claude"
    assert body["local_alternative"] == "llama3"
    assert body["fallback_model"] is None


def test_a_model_key_with_dots_colons_and_slashes_is_its_own_url(viewer_user: Any) -> None:
    make_model(key="ollama:llama3.1:8b")
    make_model(key="meta/llama-3")
    client = client_for(viewer_user)

    assert client.get("/api/models/ollama:llama3.1:8b").json()["key"] == "ollama:llama3.1:8b"
    assert client.get("/api/models/meta/llama-3").json()["key"] == "meta/llama-3"
    missing = client.get("/api/models/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == errors.NOT_FOUND


# -- budgets -----------------------------------------------------------------------------


def test_a_budget_names_its_target_by_key(admin_role_user: Any) -> None:
    agent = make_agent(key="cto")

    response = client_for(admin_role_user).post(
        "/api/budgets",
        {"scope": "agent", "target": "cto", "period": "month", "limit_usd": "100"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["target"] == "cto"
    assert Budget.objects.get().agent == agent
    assert ChangeLogEntry.objects.get().target_key == "agent:cto:month"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"scope": "provider", "target": "ghost"},
            MSG_UNKNOWN_TARGET.format(noun="provider", target="ghost"),
        ),
        (
            {"scope": "model", "target": "ghost"},
            MSG_UNKNOWN_TARGET.format(noun="model", target="ghost"),
        ),
        ({"scope": "global", "target": "cto"}, MSG_TARGET_UNEXPECTED),
        ({"scope": "agent"}, "A 'agent' budget needs a target: the agent it limits."),
    ],
)
def test_a_budget_target_must_fit_its_scope(
    admin_role_user: Any, body: dict[str, Any], message: str
) -> None:
    make_agent(key="cto")

    response = client_for(admin_role_user).post(
        "/api/budgets", {**body, "period": "day", "limit_usd": "1"}, format="json"
    )

    assert fields_of(response) == {"target": [message]}


def test_a_second_global_budget_for_a_period_is_a_400(admin_role_user: Any) -> None:
    make_budget()

    response = client_for(admin_role_user).post(
        "/api/budgets", {"scope": "global", "period": "day", "limit_usd": "1"}, format="json"
    )

    assert fields_of(response) == {"period": ["budget with this period already exists."]}
    assert Budget.objects.count() == 1


def test_changing_only_a_budgets_target_keeps_its_scope(admin_role_user: Any) -> None:
    budget = make_budget(model=make_model(key="claude"))
    make_model(key="gpt-4o")

    response = client_for(admin_role_user).patch(
        f"/api/budgets/{budget.pk}", {"target": "gpt-4o"}, format="json"
    )

    assert response.status_code == 200, response.content
    budget.refresh_from_db()
    assert (budget.scope, budget.model.key) == ("model", "gpt-4o")
    entry = ChangeLogEntry.objects.get()
    assert entry.target_key == "model:gpt-4o:day"
    assert entry.before["model"] != entry.after["model"]


# -- API keys ----------------------------------------------------------------------------


def test_a_new_api_keys_secret_is_shown_once(admin_role_user: Any) -> None:
    client = client_for(admin_role_user)
    make_agent(key="cto")

    created = client.post(
        "/api/api-keys",
        {"name": "ci", "scopes": ["route", "status"], "default_agent": "cto"},
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    secret = body["key"]
    assert secret.startswith(f"sb_{body['prefix']}_")
    key = ApiKey.objects.get(name="ci")
    assert key.secret_hash == api_key_hash(secret)
    assert (body["default_agent"], body["created_by"]) == ("cto", "admin-role")
    listed = client.get("/api/api-keys").json()["results"][0]
    shown = client.get("/api/api-keys/ci").json()
    for view in (listed, shown):
        assert "key" not in view
        assert "secret_hash" not in view
        assert secret not in str(view)
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.source, entry.actor) == ("api_key.create", "api", admin_role_user)
    assert "secret_hash" not in entry.after
    assert key.secret_hash not in str(entry.after)
    # The key works: it authenticates (and, as a service key, is refused here).
    assert client_for(bearer=secret).get("/api/providers").status_code == 403


def test_a_new_api_key_needs_a_scope(admin_role_user: Any) -> None:
    response = client_for(admin_role_user).post(
        "/api/api-keys", {"name": "ci", "scopes": []}, format="json"
    )

    assert fields_of(response) == {"scopes": [MSG_NO_SCOPES]}


def test_updating_an_api_key_changes_its_settings_but_never_its_secret(
    admin_role_user: Any, service_key: Any
) -> None:
    make_agent(key="cto")
    before = ApiKey.objects.get(name="service")

    response = client_for(admin_role_user).patch(
        "/api/api-keys/service",
        {
            "name": "renamed",
            "scopes": [ApiScope.STATUS],
            "default_agent": "cto",
            "is_active": False,
            "prefix": "hijacked",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    after = ApiKey.objects.get(pk=before.pk)
    assert (after.name, after.scopes, after.default_agent.key, after.is_active) == (
        "renamed",
        ["status"],
        "cto",
        False,
    )
    assert (after.prefix, after.secret_hash) == (before.prefix, before.secret_hash)
    entry = ChangeLogEntry.objects.latest("id")
    assert entry.action == "api_key.update"
    assert "secret_hash" not in entry.before
    assert "secret_hash" not in entry.after


def test_deleting_an_api_key_revokes_it(admin_role_user: Any, service_key: Any) -> None:
    response = client_for(admin_role_user).delete("/api/api-keys/service")

    assert response.status_code == 204
    assert ApiKey.objects.get(name="service").is_active is False
    entry = ChangeLogEntry.objects.latest("id")
    assert (entry.action, entry.before["is_active"], entry.after["is_active"]) == (
        "api_key.revoke",
        True,
        False,
    )
    assert client_for(bearer=service_key.plaintext).get("/api/providers").status_code == 401


# -- pagination and filters --------------------------------------------------------------


def test_registry_lists_page_by_limit_and_offset(viewer_user: Any) -> None:
    for name in ("a", "b", "c"):
        make_provider(name=name)
    client = client_for(viewer_user)

    first = client.get("/api/providers", {"limit": 2}).json()
    rest = client.get("/api/providers", {"limit": 2, "offset": 2}).json()

    assert first["count"] == 3
    assert [p["name"] for p in first["results"]] == ["a", "b"]
    assert "offset=2" in first["next"]
    assert first["previous"] is None
    assert [p["name"] for p in rest["results"]] == ["c"]
    assert rest["next"] is None


def test_a_page_holds_50_rows_by_default_and_500_at_most(viewer_user: Any) -> None:
    Strategy.objects.bulk_create(Strategy(key=f"s{i:03}") for i in range(501))
    client = client_for(viewer_user)

    assert len(client.get("/api/strategies").json()["results"]) == 50
    assert len(client.get("/api/strategies", {"limit": 10_000}).json()["results"]) == 500


def test_models_filter_by_provider_type_enabled_and_capability(viewer_user: Any) -> None:
    groq = make_provider(name="groq")
    make_model(key="a", provider=groq, type=ModelType.CLOUD, capabilities=["vision"])
    make_model(key="b", provider=groq, type=ModelType.CLOUD, enabled=False)
    make_model(key="c", type=ModelType.LOCAL, capabilities=["vision", "code"])
    client = client_for(viewer_user)

    def keys(**params: Any) -> list[str]:
        response = client.get("/api/models", params)
        assert response.status_code == 200, response.content
        return [m["key"] for m in response.json()["results"]]

    assert keys(provider="groq") == ["a", "b"]
    assert keys(type="local") == ["c"]
    assert keys(enabled="false") == ["b"]
    assert keys(enabled="true") == ["a", "c"]
    assert keys(capability="vision") == ["a", "c"]
    assert keys(capability="code", provider="groq") == []
    assert keys() == ["a", "b", "c"]


def test_rules_filter_by_scope_and_agent(viewer_user: Any) -> None:
    cto = make_agent(key="cto")
    global_rule = make_rule()
    cto_rule = make_rule(agent=cto)
    make_rule(agent=make_agent())
    client = client_for(viewer_user)

    def ids(**params: Any) -> list[int]:
        return [r["id"] for r in client.get("/api/rules", params).json()["results"]]

    assert ids(scope="global") == [global_rule.pk]
    assert ids(agent="cto") == [cto_rule.pk]
    assert len(ids()) == 3


def test_budgets_and_api_keys_filter_too(viewer_user: Any, service_key: Any) -> None:
    make_budget()
    make_budget(agent=make_agent())
    api_key_create(name="old")
    ApiKey.objects.filter(name="old").update(is_active=False)
    client = client_for(viewer_user)

    budgets = client.get("/api/budgets", {"scope": "agent"}).json()["results"]
    keys = client.get("/api/api-keys", {"is_active": "false"}).json()["results"]

    assert [b["scope"] for b in budgets] == ["agent"]
    assert [k["name"] for k in keys] == ["old"]


def test_a_bad_filter_value_is_a_400_not_an_unfiltered_list(viewer_user: Any) -> None:
    client = client_for(viewer_user)

    assert fields_of(client.get("/api/models", {"type": "quantum"})) == {
        "type": ['"quantum" is not a valid choice.']
    }
    assert "enabled" in fields_of(client.get("/api/models", {"enabled": "maybe"}))


def test_unknown_query_parameters_are_ignored(viewer_user: Any) -> None:
    make_model(key="a")

    response = client_for(viewer_user).get("/api/models", {"colour": "blue"})

    assert [m["key"] for m in response.json()["results"]] == ["a"]
    assert LLMModel.objects.count() == 1


@by_path
def test_registry_lists_take_a_fixed_number_of_queries(
    resource: Resource, viewer_user: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(viewer_user)
    resource.make()
    expected = [
        "the session",
        "the user",
        "the user's role groups (RolePermission)",
        "the COUNT for the page's total",
        "one page of rows, joined to the rows they name by key",
    ]

    with django_assert_num_queries(len(expected)):
        assert client.get(resource.path).json()["count"] == 1
    for _ in range(5):
        resource.make()
    with django_assert_num_queries(len(expected)):
        assert client.get(resource.path).json()["count"] == 6
