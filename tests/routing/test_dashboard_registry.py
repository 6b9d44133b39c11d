"""The registry page (/registry) through Django's test client: providers, models, agents
and rules.

Every role reads the lists; viewers and operators get no edit controls and 403 on every
write (nothing changes); admins edit rows in place, create and delete, each write
leaving a change-log entry (source "dashboard", the reason typed) and a new
configuration revision. The page and its htmx partial (with `Vary: HX-Request`), the
rule condition checked as it is typed (the error's position under a caret) and again on
save, a provider's key that is never shown, and CSRF on every write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent
from routing.choices import ChangeSource, ModelType, ProviderKind, RuleAction, RuleScope, Tier
from routing.dashboard import registry_forms, registry_views
from routing.dashboard.condition_report import condition_report
from routing.models import ChangeLogEntry, LLMModel, Provider, RoutingRule
from routing.services import config_revision_current
from routing.snapshot import current_snapshot
from tests.dashboard_pages import client_for_role, html, logged_in, vary
from tests.factories import make_agent, make_model, make_provider, make_rule

pytestmark = pytest.mark.django_db

PAGE = "/registry"
HTMX = {"HX-Request": "true"}
CHECK = "/registry/condition-check"
KEY_ENV = "GROQ_API_KEY"
SECRET = "gsk_live_never_shown_9f8e7d"
TABS = ["providers", "models", "agents", "rules"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A cloud provider whose key is set in the environment, its model, an agent that
    prefers it, and a global rule."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    provider = make_provider(
        name="groq",
        kind=ProviderKind.OPENAI_COMPATIBLE,
        tier=Tier.FAST_CLOUD,
        base_url="https://api.groq.example/v1",
        api_key_env=KEY_ENV,
    )
    model = make_model(
        key="groq-llama",
        provider=provider,
        type=ModelType.CLOUD,
        cost_input_per_1k=Decimal("0.0005"),
        cost_output_per_1k=Decimal("0.0008"),
    )
    spare = make_model(key="spare-local")
    agent = make_agent(key="backend", name="Backend", primary_model=model)
    rule = make_rule(name="complex_to_cloud", position=1, condition="task.complexity > 7")
    return {"provider": provider, "model": model, "spare": spare, "agent": agent, "rule": rule}


@pytest.fixture
def as_role(request: pytest.FixtureRequest) -> Callable[[str], Client]:
    return client_for_role(request)


def escaped(text: str) -> str:
    return text.replace("'", "&#x27;").replace('"', "&quot;")


def provider_body(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "ollama-box",
        "kind": "ollama",
        "tier": "local",
        "base_url": "http://localhost:11434",
        "api_key_env": "",
        "timeout_s": "30",
        "default_model": "",
        "model_roles": "{}",
        "rate_limit_rpm": "",
        "options": "{}",
        "reason": "",
    }
    return data | changes


def model_body(**changes: Any) -> dict[str, Any]:
    data = {
        "key": "llama-local",
        "provider": "groq",
        "model_id": "llama3.1:8b",
        "type": "local",
        "capabilities": "",
        "cost_input_per_1k": "0",
        "cost_output_per_1k": "0",
        "context_window": "8192",
        "requests_per_minute": "",
        "tokens_per_minute": "",
        "tokens_per_second": "",
        "resource_requirements": "{}",
        "model_path": "",
        "endpoint": "",
        "timeout_s": "",
        "enabled": "on",
        "reason": "",
    }
    return data | changes


def agent_body(**changes: Any) -> dict[str, Any]:
    data = {
        "key": "frontend",
        "name": "Frontend",
        "description": "",
        "primary_model": "",
        "fallback_model": "",
        "local_alternative": "",
        "budget_mode_model": "",
        "capabilities_required": "",
        "default_privacy_level": "low",
        "reason": "",
    }
    return data | changes


def rule_body(**changes: Any) -> dict[str, Any]:
    data = {
        "scope": "global",
        "agent": "",
        "name": "pii_stays_local",
        "position": "2",
        "condition": "data.contains_pii",
        "action": RuleAction.FORCE_LOCAL,
        "model": "",
        "enabled": "on",
        "reason": "",
    }
    return data | changes


def writes(world: Any) -> list[tuple[str, dict[str, Any]]]:
    p, m, a, r = (world[k].pk for k in ("provider", "model", "agent", "rule"))
    return [
        ("/registry/providers/new", provider_body()),
        (f"/registry/providers/{p}/save", provider_body(name="groq")),
        (f"/registry/providers/{p}/delete", {}),
        ("/registry/models/new", model_body()),
        (f"/registry/models/{m}/save", model_body(key="groq-llama")),
        (f"/registry/models/{m}/delete", {}),
        ("/registry/agents/new", agent_body()),
        (f"/registry/agents/{a}/save", agent_body(key="backend")),
        (f"/registry/agents/{a}/delete", {}),
        ("/registry/rules/new", rule_body()),
        (f"/registry/rules/{r}/save", rule_body(position="1")),
        (f"/registry/rules/{r}/delete", {}),
        (CHECK, {"condition": "task.complexity > 1"}),
    ]


def unchanged(version: int) -> bool:
    return (
        list(Provider.objects.values_list("name", flat=True)) == ["groq", *_spare_provider()]
        and LLMModel.objects.count() == 2
        and Agent.objects.count() == 1
        and RoutingRule.objects.get().condition == "task.complexity > 7"
        and not ChangeLogEntry.objects.exists()
        and config_revision_current() == version
    )


def _spare_provider() -> list[str]:
    return [LLMModel.objects.get(key="spare-local").provider.name]


def row_html(page: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{row_id}".*?</tr>', page, re.S)
    assert match, f"no row {row_id}"
    return match.group(0)


# -- access ------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page_and_change_nothing(world: Any) -> None:
    version = config_revision_current()
    response = Client().get(f"{PAGE}?tab=rules")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/registry%3Ftab%3Drules"
    for path, data in writes(world):
        response = Client().post(path, data)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/accounts/login/")
    assert unchanged(version)


def test_a_user_without_a_role_may_not_even_read(as_role: Any, world: Any) -> None:
    client = as_role("none")
    version = config_revision_current()
    assert client.get(PAGE).status_code == 403
    assert (
        client.get(f"/registry/providers/{world['provider'].pk}", headers=HTMX).status_code == 403
    )
    for path, data in writes(world):
        assert client.post(path, data).status_code == 403, path
    assert unchanged(version)


@pytest.mark.parametrize("who", ["viewer", "operator"])
@pytest.mark.parametrize("tab", TABS)
def test_viewers_and_operators_read_every_list_without_edit_controls(
    as_role: Any, world: Any, who: str, tab: str
) -> None:
    response = as_role(who).get(f"{PAGE}?tab={tab}")
    assert response.status_code == 200
    page = html(response)
    shown = {
        "providers": "groq",
        "models": "groq-llama",
        "agents": "backend",
        "rules": "complex_to_cloud",
    }
    assert shown[tab] in page
    assert "Read-only: only admins change the registry." in page
    panel = page.split('id="registry-panel"')[1]
    assert "<form" not in panel
    assert "Edit</a>" not in panel
    assert "/delete" not in panel
    assert "/save" not in panel
    assert "/new" not in panel


@pytest.mark.parametrize("who", ["viewer", "operator"])
def test_viewers_and_operators_are_refused_every_write_and_form(
    as_role: Any, world: Any, who: str
) -> None:
    client = as_role(who)
    version = config_revision_current()
    for path, data in writes(world):
        assert client.post(path, data).status_code == 403, path
        assert client.post(path, data, headers=HTMX).status_code == 403, path
    for tab in TABS:
        pk = world[
            {"providers": "provider", "models": "model", "agents": "agent", "rules": "rule"}[tab]
        ].pk
        assert client.get(f"/registry/{tab}/{pk}/edit", headers=HTMX).status_code == 403
    assert unchanged(version)


@pytest.mark.parametrize("who", ["admin", "superuser"])
@pytest.mark.parametrize("tab", TABS)
def test_admins_get_edit_delete_and_add_on_every_list(
    as_role: Any, world: Any, who: str, tab: str
) -> None:
    page = html(as_role(who).get(f"{PAGE}?tab={tab}"))
    noun = registry_views.KINDS[tab].noun
    assert f'id="{noun}-create-form"' in page
    assert f'hx-post="/registry/{tab}/new"' in page
    assert "Edit</a>" in page
    assert f"/registry/{tab}/" in page
    assert "/delete" in page
    assert "Read-only" not in page


def test_an_unknown_list_or_row_is_a_404(as_role: Any, world: Any) -> None:
    client = as_role("admin")
    assert client.get(f"{PAGE}?tab=secrets").status_code == 404
    assert client.get("/registry/secrets/1/edit").status_code == 404
    assert client.get("/registry/providers/999999/edit", headers=HTMX).status_code == 404
    assert client.post("/registry/models/999999/delete").status_code == 404


def test_pages_take_only_their_methods(as_role: Any, world: Any) -> None:
    client = as_role("admin")
    pk = world["provider"].pk
    assert client.post(PAGE).status_code == 405
    assert client.get(CHECK).status_code == 405
    assert client.get("/registry/providers/new").status_code == 405
    assert client.get(f"/registry/providers/{pk}/save").status_code == 405
    assert client.get(f"/registry/providers/{pk}/delete").status_code == 405


# -- full page and htmx partial ----------------------------------------------------------------


@pytest.mark.parametrize("tab", TABS)
def test_a_tab_is_a_whole_page_and_its_htmx_partial_is_only_the_panel(
    as_role: Any, world: Any, tab: str
) -> None:
    client = as_role("viewer")
    full = client.get(f"{PAGE}?tab={tab}")
    assert html(full).startswith("<!doctype html>")
    assert 'hx-headers=\'{"X-CSRFToken": "' in html(full)
    assert "hx-request" in vary(full)
    assert 'aria-current="page">Registry<' in html(full)  # the main navigation

    partial = client.get(f"{PAGE}?tab={tab}", headers=HTMX)
    assert partial.status_code == 200
    assert html(partial).lstrip().startswith('<div id="registry-panel"')
    assert "<html" not in html(partial)
    assert "topbar" not in html(partial)
    assert "hx-request" in vary(partial)
    title = registry_views.KINDS[tab].title
    assert f'aria-current="page">{title}</a>' in html(partial)


def test_the_tabs_are_links_that_htmx_follows_in_place(as_role: Any, world: Any) -> None:
    page = html(as_role("viewer").get(PAGE))
    for tab in TABS:
        assert f'<a href="/registry?tab={tab}" hx-get="/registry?tab={tab}"' in page
    assert 'hx-push-url="true"' in page


# -- providers and their keys ------------------------------------------------------------------


def test_a_provider_shows_the_name_of_its_key_variable_and_never_the_key(
    as_role: Any, world: Any
) -> None:
    for who in ("viewer", "admin"):
        page = html(as_role(who).get(PAGE))
        row = row_html(page, f"provider-{world['provider'].pk}")
        assert f"<code>{KEY_ENV}</code>" in row
        assert "set here" in row
        assert SECRET not in page
    edit = html(
        as_role("admin").get(f"/registry/providers/{world['provider'].pk}/edit", headers=HTMX)
    )
    assert f'value="{KEY_ENV}"' in edit
    assert SECRET not in edit


def test_a_key_variable_not_set_here_says_so(as_role: Any, world: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv(KEY_ENV)
    row = row_html(html(as_role("viewer").get(PAGE)), f"provider-{world['provider'].pk}")
    assert "not set here" in row


def test_a_pasted_secret_is_refused_and_not_shown_back(as_role: Any, world: Any) -> None:
    version = config_revision_current()
    pasted = "sk-proj-abc123SECRET"
    pk = world["provider"].pk
    response = as_role("admin").post(
        f"/registry/providers/{pk}/save",
        provider_body(name="groq", api_key_env=pasted),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert escaped(registry_forms.MSG_KEY_ENV_NOT_A_NAME) in html(response)
    assert pasted not in html(response)
    assert Provider.objects.get(pk=pk).api_key_env == KEY_ENV
    assert unchanged(version)

    created = as_role("admin").post("/registry/providers/new", provider_body(api_key_env=pasted))
    assert created.status_code == 400
    assert pasted not in html(created)
    assert unchanged(version)


def test_an_admin_adds_a_provider_and_the_change_is_logged_and_versioned(
    as_role: Any, world: Any, admin_role_user: Any
) -> None:
    version = config_revision_current()
    response = as_role("admin").post(
        "/registry/providers/new",
        provider_body(reason="a local box", options='{"latency_ms": 5}'),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert html(response).lstrip().startswith('<div id="registry-panel"')
    created = Provider.objects.get(name="ollama-box")
    assert created.options == {"latency_ms": 5}
    assert f'<tr id="provider-{created.pk}"' in html(response)
    assert escaped(registry_views.MSG_CREATED.format(Noun="Provider", name="ollama-box")) in html(
        response
    )
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_key) == (
        "provider.create",
        "provider",
        "ollama-box",
    )
    assert (entry.source, entry.actor, entry.reason) == (
        ChangeSource.DASHBOARD,
        admin_role_user,
        "a local box",
    )
    assert entry.before is None
    assert entry.after["base_url"] == "http://localhost:11434"
    assert config_revision_current() == version + 1


def test_an_admin_edits_a_provider_row_in_place(as_role: Any, world: Any) -> None:
    pk = world["provider"].pk
    client = as_role("admin")
    form = html(client.get(f"/registry/providers/{pk}/edit", headers=HTMX))
    assert form.lstrip().startswith(f'<tr id="provider-{pk}" class="editing"')
    assert f'hx-post="/registry/providers/{pk}/save"' in form
    assert f'hx-get="/registry/providers/{pk}"' in form  # Cancel

    version = config_revision_current()
    response = client.post(
        f"/registry/providers/{pk}/save",
        provider_body(
            name="groq",
            kind="openai_compatible",
            tier="fast_cloud",
            base_url="https://api.groq.example/v1",
            api_key_env="GROQ_KEY_2",
            timeout_s="12.5",
            reason="rotated the key",
        ),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "hx-request" in vary(response)
    row = html(response)
    assert row.lstrip().startswith(f'<tr id="provider-{pk}" class="saved"')
    assert "<code>GROQ_KEY_2</code>" in row
    assert "not set here" in row
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key, entry.reason) == (
        "provider.update",
        "groq",
        "rotated the key",
    )
    assert (entry.before["api_key_env"], entry.after["api_key_env"]) == (KEY_ENV, "GROQ_KEY_2")
    assert (entry.before["timeout_s"], entry.after["timeout_s"]) == (30.0, 12.5)
    assert config_revision_current() == version + 1
    assert current_snapshot().models["groq-llama"].timeout_s == 12.5  # routing sees it now


def test_without_htmx_an_edit_is_a_page_and_a_save_redirects_back_to_its_tab(
    as_role: Any, world: Any
) -> None:
    client = as_role("admin")
    pk = world["model"].pk
    page = html(client.get(f"/registry/models/{pk}/edit"))
    assert page.startswith("<!doctype html>")
    assert f'<tr id="model-{pk}" class="editing"' in page
    assert 'name="cost_input_per_1k" value="0.0005"' in page  # as typed, not 0.00050000

    response = client.post(
        f"/registry/models/{pk}/save", model_body(key="groq-llama", type="cloud")
    )
    assert response.status_code == 302
    assert response["Location"] == "/registry?tab=models"
    follow = html(client.get(response["Location"]))
    assert escaped(registry_views.MSG_UPDATED.format(Noun="Model", name="groq-llama")) in follow

    assert client.get(f"/registry/models/{pk}").status_code == 302  # Cancel without htmx


def test_deleting_a_provider_still_in_use_names_its_users_and_deletes_nothing(
    as_role: Any, world: Any
) -> None:
    version = config_revision_current()
    response = as_role("admin").post(
        f"/registry/providers/{world['provider'].pk}/delete", headers=HTMX | {"HX-Prompt": "tidy"}
    )
    assert response.status_code == 200
    message = "&#x27;groq&#x27; is still used by: model groq-llama. Change or delete those first."
    assert f'<li class="notice notice-error" role="status">{message}</li>' in html(response)
    assert unchanged(version)


# -- models and agents -------------------------------------------------------------------------


def test_an_admin_adds_a_model_with_capabilities_typed_as_a_list(as_role: Any, world: Any) -> None:
    response = as_role("admin").post(
        "/registry/models/new", model_body(capabilities="vision, tools , json"), headers=HTMX
    )
    assert response.status_code == 200
    created = LLMModel.objects.get(key="llama-local")
    assert created.capabilities == ["vision", "tools", "json"]
    assert created.provider == world["provider"]
    assert "vision, tools, json" in row_html(html(response), f"model-{created.pk}")
    assert ChangeLogEntry.objects.get().action == "llmmodel.create"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"cost_input_per_1k": "-1"}, None, "model_input_cost_not_negative"),
        ({"provider": "nobody"}, "provider", "Select a valid choice."),
        ({"key": "has space"}, "key", "Use letters, digits and _ . : / - only"),
        (
            {"capabilities": "Vision"},
            "capabilities",
            "Use lower-case identifiers (letters, digits, underscores): Vision",
        ),
        ({"resource_requirements": "{not json"}, "resource_requirements", "Enter a valid JSON."),
        (
            {"model_id": "upstream-x", "provider": "groq", "key": "groq-llama"},
            "key",
            "already exists",
        ),
    ],
)
def test_a_bad_new_model_comes_back_with_its_errors_and_nothing_is_created(
    as_role: Any, world: Any, changes: dict[str, str], field: str | None, message: str
) -> None:
    version = config_revision_current()
    response = as_role("admin").post("/registry/models/new", model_body(**changes), headers=HTMX)
    assert response.status_code == 200
    page = html(response)
    if field is None:
        assert 'class="notice notice-error" role="alert"' in page
    else:
        assert f'<div class="field field-{field} has-error">' in page
    assert escaped(message) in page
    assert unchanged(version)


def test_an_agent_names_its_models_by_key(as_role: Any, world: Any) -> None:
    pk = world["agent"].pk
    response = as_role("admin").post(
        f"/registry/agents/{pk}/save",
        agent_body(
            key="backend", name="Backend", primary_model="spare-local", fallback_model="groq-llama"
        ),
        headers=HTMX,
    )
    assert response.status_code == 200
    agent = Agent.objects.get(pk=pk)
    assert (agent.primary_model, agent.fallback_model) == (world["spare"], world["model"])
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key) == ("agent.update", "backend")
    form = html(as_role("admin").get(f"/registry/agents/{pk}/edit", headers=HTMX))
    assert '<option value="spare-local" selected>' in form


def test_an_edit_form_selects_the_rows_its_row_links_to_so_saving_it_keeps_them(
    as_role: Any, world: Any
) -> None:
    client = as_role("admin")
    rule = make_rule(
        agent=world["agent"], position=3, action=RuleAction.USE_MODEL, model=world["spare"]
    )
    model_form = html(client.get(f"/registry/models/{world['model'].pk}/edit", headers=HTMX))
    assert '<option value="groq" selected>' in model_form
    agent_form = html(client.get(f"/registry/agents/{world['agent'].pk}/edit", headers=HTMX))
    assert '<option value="groq-llama" selected>' in agent_form
    rule_form = html(client.get(f"/registry/rules/{rule.pk}/edit", headers=HTMX))
    assert '<option value="backend" selected>' in rule_form
    assert '<option value="spare-local" selected>' in rule_form


def test_deleting_an_unused_model_logs_what_it_was(as_role: Any, world: Any) -> None:
    pk = world["spare"].pk
    response = as_role("admin").post(f"/registry/models/{pk}/delete", {"reason": "retired"})
    assert response.status_code == 302
    assert response["Location"] == "/registry?tab=models"
    assert not LLMModel.objects.filter(pk=pk).exists()
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key, entry.reason) == (
        "llmmodel.delete",
        "spare-local",
        "retired",
    )
    assert entry.before["key"] == "spare-local"
    assert entry.after is None


# -- rules and their conditions ----------------------------------------------------------------


def test_the_rule_form_checks_its_condition_as_it_is_typed(as_role: Any, world: Any) -> None:
    page = html(as_role("admin").get(f"{PAGE}?tab=rules"))
    textarea = re.search(r'<textarea name="condition"[^>]*id="rule_new_condition"[^>]*>', page)
    assert textarea, page
    tag = textarea.group(0)
    assert f'hx-post="{CHECK}"' in tag
    assert 'hx-trigger="input changed delay:300ms"' in tag
    assert 'hx-target="#rule_new_condition-check"' in tag
    assert 'id="rule_new_condition-check"' in page


def test_the_check_shows_the_error_with_a_caret_under_its_position(
    as_role: Any, world: Any
) -> None:
    response = as_role("admin").post(
        CHECK, {"condition": "task.complexity >> 5 and x"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "hx-request" in vary(response)
    body = html(response)
    error = condition_report("task.complexity >> 5 and x").error
    assert error is not None
    assert f"Line {error.line}, column {error.column}:" in body
    caret = re.search(r'<pre class="caret"[^>]*>(.*?)</pre>', body, re.S).group(1)
    line, pointer = caret.split("\n")
    assert line == "task.complexity &gt;&gt; 5 and x"
    assert pointer == " " * (error.column - 1) + "^"


def test_the_check_names_an_unknown_field_and_suggests_the_right_one(
    as_role: Any, world: Any
) -> None:
    body = html(as_role("admin").post(CHECK, {"condition": "task.complexty > 5"}))
    assert "Line 1, column 1:" in body
    assert "did you mean" in body
    assert '<pre class="caret" data-testid="condition-caret">task.complexty &gt; 5\n^</pre>' in body


def test_a_valid_condition_is_valid_and_lists_the_fields_it_reads(as_role: Any, world: Any) -> None:
    body = html(
        as_role("admin").post(CHECK, {"condition": "task.complexity > 7 and not data.contains_pii"})
    )
    assert "<strong>Valid.</strong>" in body
    assert "<code>data.contains_pii</code>" in body
    assert "<code>task.complexity</code>" in body
    assert "number: 1-10" in body  # what the field means
    assert 'class="caret"' not in body


def test_saving_a_rule_with_a_bad_condition_shows_the_same_check_and_keeps_the_rule(
    as_role: Any, world: Any
) -> None:
    client = as_role("admin")
    version = config_revision_current()
    pk = world["rule"].pk
    bad = "task.complexity > 7 and (data.contains_pii"
    response = client.post(
        f"/registry/rules/{pk}/save",
        rule_body(name="complex_to_cloud", position="1", condition=bad),
        headers=HTMX,
    )
    assert response.status_code == 200
    row = html(response)
    error = condition_report(bad).error
    assert error is not None
    assert escaped(str(error)) in row  # the model's validator, as the API reports it
    assert f"Line {error.line}, column {error.column}:" in row
    assert 'data-testid="condition-caret"' in row
    assert unchanged(version)

    created = client.post("/registry/rules/new", rule_body(condition="budget_mode = true"))
    assert created.status_code == 400
    assert 'data-testid="condition-caret"' in html(created)
    assert unchanged(version)


def test_an_admin_adds_an_agent_rule_and_edits_its_condition(
    as_role: Any, world: Any, admin_role_user: Any
) -> None:
    client = as_role("admin")
    response = client.post(
        "/registry/rules/new",
        rule_body(
            scope="agent",
            agent="backend",
            name="",
            position="1",
            condition="task.type == 'debug'",
            action=RuleAction.USE_MODEL,
            model="spare-local",
            reason="debugging stays local",
        ),
        headers=HTMX,
    )
    assert response.status_code == 200
    rule = RoutingRule.objects.get(scope=RuleScope.AGENT)
    assert (rule.agent, rule.model) == (world["agent"], world["spare"])
    assert f'<tr id="rule-{rule.pk}"' in html(response)
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key, entry.reason) == (
        "routingrule.create",
        str(rule.pk),
        "debugging stays local",
    )

    form = html(client.get(f"/registry/rules/{rule.pk}/edit", headers=HTMX))
    assert "<strong>Valid.</strong>" in form  # the stored condition's verdict, at once
    assert 'id="rule_' + str(rule.pk) + '_condition-check"' in form
    client.post(
        f"/registry/rules/{rule.pk}/save",
        rule_body(
            scope="agent",
            agent="backend",
            name="",
            position="1",
            condition="task.type in ['debug', 'code_review']",
            action=RuleAction.USE_MODEL,
            model="spare-local",
        ),
        headers=HTMX,
    )
    rule.refresh_from_db()
    assert rule.condition == "task.type in ['debug', 'code_review']"
    update = ChangeLogEntry.objects.latest("id")
    assert update.before["condition"] == "task.type == 'debug'"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"position": "1"},
            "position",
            registry_forms.MSG_POSITION_TAKEN.format(
                position=1, rule="complex_to_cloud", where="(global)"
            ),
        ),
        (
            {"scope": "agent", "agent": ""},
            None,
            "Agent rules need an agent; global rules have none.",
        ),
        ({"action": RuleAction.USE_MODEL, "model": ""}, "model", "must name the model"),
    ],
)
def test_a_rule_is_checked_like_the_api_checks_it(
    as_role: Any, world: Any, changes: dict[str, str], field: str | None, message: str
) -> None:
    version = config_revision_current()
    response = as_role("admin").post("/registry/rules/new", rule_body(**changes), headers=HTMX)
    page = html(response)
    if field is not None:
        assert f'<div class="field field-{field} has-error">' in page
    assert escaped(message) in page
    assert unchanged(version)


def test_the_condition_check_needs_the_admin_role_and_a_csrf_token(
    as_role: Any, world: Any, admin_role_user: Any
) -> None:
    assert as_role("viewer").post(CHECK, {"condition": "true"}).status_code == 403
    strict = logged_in(admin_role_user, enforce_csrf_checks=True)
    assert strict.post(CHECK, {"condition": "true"}, headers=HTMX).status_code == 403


def test_the_caret_keeps_tabs_so_it_lines_up_under_the_column() -> None:
    report = condition_report("(task.complexity > 5 and\n\tdata.pii_typez)")
    assert report.error is not None
    assert (report.error.line, report.error.column) == (2, 2)
    assert report.line_text == "\tdata.pii_typez)"
    assert report.caret_indent == "\t"


def test_the_caret_can_point_past_the_end_of_the_text() -> None:
    report = condition_report("task.complexity >")
    assert report.error is not None
    assert report.caret_indent == " " * (report.error.column - 1)
    assert len(report.caret_indent) == len("task.complexity >")


# -- CSRF --------------------------------------------------------------------------------------


def test_a_write_without_a_csrf_token_is_refused(admin_role_user: Any, world: Any) -> None:
    client = logged_in(admin_role_user, enforce_csrf_checks=True)
    version = config_revision_current()
    for path, data in writes(world):
        assert client.post(path, data).status_code == 403, path
        assert client.post(path, data, headers=HTMX).status_code == 403, path
    assert unchanged(version)


def test_writes_go_through_with_the_pages_token(admin_role_user: Any, world: Any) -> None:
    client = logged_in(admin_role_user, enforce_csrf_checks=True)
    page = html(client.get(PAGE))
    header = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        "/registry/providers/new", provider_body(), headers=HTMX | {"X-CSRFToken": header}
    )
    assert response.status_code == 200
    response = client.post("/registry/agents/new", agent_body(csrfmiddlewaretoken=field))
    assert response.status_code == 302
    assert Provider.objects.filter(name="ollama-box").exists()
    assert Agent.objects.filter(key="frontend").exists()
