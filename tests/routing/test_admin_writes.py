"""The Django admin writes through routing.services.registry_writes: each add, change and
delete (one row, a bulk delete, an inline row) is logged as the superuser who made it,
under the service's names, without secrets, with a new configuration revision."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from routing.choices import (
    ChangeSource,
    ModelType,
    PrivacyLevel,
    ProviderKind,
    RuleAction,
    RuleScope,
    Tier,
)
from routing.models import ApiKey, ChangeLogEntry, LLMModel, Provider, RoutingRule
from routing.services import api_key_hash, config_revision_current
from tests.factories import make_agent, make_model, make_provider, make_rule

pytestmark = pytest.mark.django_db

SECRET_ENV = "GROQ_API_KEY"
SECRET = "gsk-live-3f9a1c0b7e"


def _url(model: type[Any], view: str, *args: Any) -> str:
    return reverse(f"admin:routing_{model._meta.model_name}_{view}", args=args)


def _errors(response: Any) -> Any:
    return response.context and response.context["adminform"].form.errors


def _logged(entry: ChangeLogEntry) -> str:
    return json.dumps([entry.before, entry.after])


def _provider_form(**fields: str) -> dict[str, str]:
    return {
        "name": "groq",
        "kind": ProviderKind.OPENAI_COMPATIBLE,
        "tier": Tier.FAST_CLOUD,
        "base_url": "https://api.groq.com/openai/v1",
        "api_key_env": SECRET_ENV,
        "timeout_s": "30",
        "default_model": "",
        "model_roles": "{}",
        "rate_limit_rpm": "",
    } | fields


def _model_form(provider: Provider, **fields: str) -> dict[str, str]:
    return {
        "key": "llama3",
        "provider": str(provider.pk),
        "model_id": "llama3:8b",
        "type": ModelType.LOCAL,
        "enabled": "on",
    } | fields


def _rule_form(**fields: str) -> dict[str, str]:
    return {
        "scope": RuleScope.GLOBAL,
        "agent": "",
        "name": "pii_stays_local",
        "position": "1",
        "condition": "data.contains_pii",
        "action": RuleAction.FORCE_LOCAL,
        "model": "",
        "enabled": "on",
    } | fields


def test_a_provider_added_changed_and_deleted_is_logged_without_its_secret(
    admin_client: Client, admin_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    version = config_revision_current()

    added = admin_client.post(_url(Provider, "add"), _provider_form())
    assert added.status_code == 302, _errors(added)
    provider = Provider.objects.get(name="groq")
    assert config_revision_current() == version + 1

    changed = admin_client.post(
        _url(Provider, "change", provider.pk), _provider_form(timeout_s="5")
    )
    assert changed.status_code == 302, _errors(changed)
    assert config_revision_current() == version + 2

    deleted = admin_client.post(_url(Provider, "delete", provider.pk), {"post": "yes"})
    assert deleted.status_code == 302
    assert not Provider.objects.exists()
    assert config_revision_current() == version + 3

    entries = list(ChangeLogEntry.objects.order_by("id"))
    assert [(e.action, e.target_type, e.target_key) for e in entries] == [
        ("provider.create", "provider", "groq"),
        ("provider.update", "provider", "groq"),
        ("provider.delete", "provider", "groq"),
    ]
    assert {(e.source, e.actor, e.actor_label) for e in entries} == {
        (ChangeSource.ADMIN, admin_user, admin_user.get_username())
    }
    create, update, delete = entries
    assert (create.before, create.after["api_key_env"]) == (None, SECRET_ENV)
    assert (update.before["timeout_s"], update.after["timeout_s"]) == (30.0, 5.0)
    assert (delete.before["name"], delete.after) == ("groq", None)
    # The variable's name is configuration; its value never leaves the environment.
    assert not [e for e in entries if SECRET in _logged(e)]


def test_a_model_added_changed_and_deleted_is_logged_under_its_key(
    admin_client: Client, admin_user: Any
) -> None:
    provider = make_provider(name="ollama")
    version = config_revision_current()

    added = admin_client.post(_url(LLMModel, "add"), _model_form(provider))
    assert added.status_code == 302, _errors(added)
    model = LLMModel.objects.get(key="llama3")
    changed = admin_client.post(
        _url(LLMModel, "change", model.pk), _model_form(provider, context_window="8192")
    )
    assert changed.status_code == 302, _errors(changed)
    deleted = admin_client.post(_url(LLMModel, "delete", model.pk), {"post": "yes"})
    assert deleted.status_code == 302

    entries = list(ChangeLogEntry.objects.order_by("id"))
    assert [(e.action, e.target_key, e.actor) for e in entries] == [
        ("llmmodel.create", "llama3", admin_user),
        ("llmmodel.update", "llama3", admin_user),
        ("llmmodel.delete", "llama3", admin_user),
    ]
    assert (entries[1].before["context_window"], entries[1].after["context_window"]) == (
        None,
        8192,
    )
    assert config_revision_current() == version + 3


def test_a_rule_added_changed_and_deleted_is_logged_under_its_id(
    admin_client: Client, admin_user: Any
) -> None:
    version = config_revision_current()

    added = admin_client.post(_url(RoutingRule, "add"), _rule_form())
    assert added.status_code == 302, _errors(added)
    rule = RoutingRule.objects.get()
    changed = admin_client.post(
        _url(RoutingRule, "change", rule.pk), _rule_form(condition="task.complexity > 7")
    )
    assert changed.status_code == 302, _errors(changed)
    deleted = admin_client.post(_url(RoutingRule, "delete", rule.pk), {"post": "yes"})
    assert deleted.status_code == 302

    entries = list(ChangeLogEntry.objects.order_by("id"))
    assert [(e.action, e.target_key, e.actor) for e in entries] == [
        ("routingrule.create", str(rule.pk), admin_user),
        ("routingrule.update", str(rule.pk), admin_user),
        ("routingrule.delete", str(rule.pk), admin_user),
    ]
    assert entries[1].before["condition"] == "data.contains_pii"
    assert entries[2].before["condition"] == "task.complexity > 7"
    assert config_revision_current() == version + 3


def test_a_bulk_delete_logs_each_model_and_bumps_the_revision_once(
    admin_client: Client, admin_user: Any
) -> None:
    first, second = make_model(key="llama3"), make_model(key="qwen2")
    kept = make_model(key="mistral")
    version = config_revision_current()

    response = admin_client.post(
        _url(LLMModel, "changelist"),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert list(LLMModel.objects.values_list("key", flat=True)) == [kept.key]
    entries = ChangeLogEntry.objects.order_by("target_key")
    assert [(e.action, e.target_key, e.source, e.actor) for e in entries] == [
        ("llmmodel.delete", "llama3", ChangeSource.ADMIN, admin_user),
        ("llmmodel.delete", "qwen2", ChangeSource.ADMIN, admin_user),
    ]
    assert [e.before["model_id"] for e in entries] == [first.model_id, second.model_id]
    assert config_revision_current() == version + 1


def test_an_api_key_added_in_the_admin_logs_neither_the_key_nor_its_hash(
    admin_client: Client, admin_user: Any
) -> None:
    response = admin_client.post(
        _url(ApiKey, "add"), {"name": "svc", "default_agent": "", "scopes": '["route"]'}
    )

    assert response.status_code == 302, _errors(response)
    key = ApiKey.objects.get(name="svc")
    [message] = [str(m) for m in get_messages(response.wsgi_request) if "Copy the key" in str(m)]
    plaintext = message.rsplit(" ", 1)[-1]
    assert key.secret_hash == api_key_hash(plaintext)  # the message really holds the key
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key, entry.actor) == ("api_key.create", "svc", admin_user)
    assert key.created_by == admin_user
    assert plaintext not in _logged(entry)
    assert key.secret_hash not in _logged(entry)


def test_an_agents_rules_changed_and_deleted_inline_are_logged_as_they_were_stored(
    admin_client: Client, admin_user: Any
) -> None:
    agent = make_agent(key="cto", name="CTO")
    edited = make_rule(agent=agent, position=1, condition="data.contains_pii")
    dropped = make_rule(agent=agent, position=2, condition="task.complexity > 5")
    version = config_revision_current()
    inline = {
        "rules-TOTAL_FORMS": "2",
        "rules-INITIAL_FORMS": "2",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
    }
    for i, (rule, condition) in enumerate(
        [(edited, "task.complexity > 7"), (dropped, "task.complexity > 9")]
    ):
        inline |= {
            f"rules-{i}-id": str(rule.pk),
            f"rules-{i}-agent": str(agent.pk),
            f"rules-{i}-position": str(rule.position),
            f"rules-{i}-condition": condition,
            f"rules-{i}-action": RuleAction.FORCE_LOCAL,
            f"rules-{i}-model": "",
            f"rules-{i}-enabled": "on",
        }
    inline["rules-1-DELETE"] = "on"
    agent_form = {
        "key": "cto",
        "name": "CTO",
        "description": "",
        "primary_model": "",
        "fallback_model": "",
        "local_alternative": "",
        "budget_mode_model": "",
        "capabilities_required": "[]",
        "default_privacy_level": PrivacyLevel.LOW,
    }

    response = admin_client.post(
        reverse("admin:agents_agent_change", args=[agent.pk]), agent_form | inline
    )

    assert response.status_code == 302, response.context and [
        f.formset.errors for f in response.context["inline_admin_formsets"]
    ]
    assert list(RoutingRule.objects.values_list("pk", "condition")) == [
        (edited.pk, "task.complexity > 7")
    ]
    rule_entries = {e.action: e for e in ChangeLogEntry.objects.filter(target_type="routingrule")}
    assert set(rule_entries) == {"routingrule.update", "routingrule.delete"}
    update, delete = rule_entries["routingrule.update"], rule_entries["routingrule.delete"]
    assert (update.target_key, update.before["condition"]) == (str(edited.pk), "data.contains_pii")
    # The deleted row's form was edited too: the log keeps what was stored.
    assert (delete.target_key, delete.before["condition"]) == (
        str(dropped.pk),
        "task.complexity > 5",
    )
    assert {e.actor for e in ChangeLogEntry.objects.all()} == {admin_user}
    # One revision for the agent's own save, one for its inline rows.
    assert config_revision_current() == version + 2
