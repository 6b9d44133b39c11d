"""Agents' invariants, enforced by the database, and the agent admin with its rule inline."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse

from agents.models import Agent
from routing.choices import ChangeSource, PrivacyLevel, RuleAction, RuleScope
from routing.models import Budget, ChangeLogEntry, RoutingRule
from routing.services import config_revision_current
from tests.factories import (
    make_agent,
    make_budget,
    make_model,
    make_rule,
    make_session_token_budget,
    make_strategy_override,
)

pytestmark = pytest.mark.django_db


def test_two_agents_with_the_same_key_are_rejected() -> None:
    make_agent(key="cto")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_agent(key="cto")


def test_an_agent_with_an_unknown_privacy_level_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="agent_privacy_level_valid"), transaction.atomic():
        make_agent(default_privacy_level="secret")


def test_full_clean_rejects_capabilities_that_are_not_identifiers() -> None:
    agent = Agent(key="cto", name="CTO", capabilities_required=["reasoning", "Long Context"])

    with pytest.raises(ValidationError) as excinfo:
        agent.full_clean()

    assert list(excinfo.value.message_dict) == ["capabilities_required"]
    assert "Long Context" in excinfo.value.message_dict["capabilities_required"][0]


def test_full_clean_accepts_a_valid_agent() -> None:
    Agent(
        key="backend",
        name="Backend",
        capabilities_required=["code_generation"],
        default_privacy_level=PrivacyLevel.HIGH,
    ).full_clean()


def test_two_rules_at_the_same_position_for_one_agent_are_rejected() -> None:
    agent = make_agent()
    make_rule(agent=agent, position=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_rule(agent=agent, position=1)


def test_two_agents_may_each_have_a_rule_at_the_same_position() -> None:
    make_rule(agent=make_agent(), position=1)
    make_rule(agent=make_agent(), position=1)
    make_rule(position=1)  # and a global one


def test_two_day_budgets_for_one_agent_are_rejected() -> None:
    agent = make_agent()
    make_budget(agent=agent)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_budget(agent=agent)


def test_two_session_token_budgets_for_one_agent_are_rejected() -> None:
    agent = make_agent()
    make_session_token_budget(agent=agent)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_session_token_budget(agent=agent)


def test_an_agent_session_token_budget_without_an_agent_is_rejected() -> None:
    with (
        pytest.raises(IntegrityError, match="session_budget_scope_matches_agent"),
        transaction.atomic(),
    ):
        make_session_token_budget(scope=RuleScope.AGENT)


def test_deleting_an_agent_deletes_its_rules_budgets_and_overrides() -> None:
    agent = make_agent()
    make_rule(agent=agent)
    make_budget(agent=agent)
    override = make_strategy_override(agent=agent)

    agent.delete()

    assert not RoutingRule.objects.filter(scope=RuleScope.AGENT).exists()
    assert not Budget.objects.exists()
    assert not type(override).objects.exists()


def test_a_model_an_agent_prefers_cannot_be_deleted() -> None:
    model = make_model()
    make_agent(primary_model=model)

    with pytest.raises(ProtectedError):
        model.delete()


# The admin


def _rule_inline(position: int, condition: str) -> dict[str, str]:
    return {
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-position": str(position),
        "rules-0-condition": condition,
        "rules-0-action": RuleAction.FORCE_LOCAL,
        "rules-0-model": "",
        "rules-0-enabled": "on",
    }


def _agent_form(key: str) -> dict[str, str]:
    return {
        "key": key,
        "name": key.upper(),
        "description": "",
        "primary_model": "",
        "fallback_model": "",
        "local_alternative": "",
        "budget_mode_model": "",
        "capabilities_required": "[]",
        "default_privacy_level": PrivacyLevel.LOW,
    }


def _form_errors(response: Any) -> Any:
    if response.context is None:
        return None
    return response.context["adminform"].form.errors, [
        formset.formset.errors for formset in response.context["inline_admin_formsets"]
    ]


def test_adding_a_rule_inline_to_an_agent_logs_it_as_an_agent_rule(admin_client: Client) -> None:
    agent = make_agent(key="cto", name="CTO")
    version = config_revision_current()
    url = reverse("admin:agents_agent_change", args=[agent.pk])

    response = admin_client.post(url, _agent_form("cto") | _rule_inline(1, "data.contains_pii"))

    assert response.status_code == 302, _form_errors(response)
    rule = RoutingRule.objects.get()
    assert (rule.scope, rule.agent, rule.condition) == (RuleScope.AGENT, agent, "data.contains_pii")
    entries = ChangeLogEntry.objects.filter(source=ChangeSource.ADMIN)
    assert sorted(e.action for e in entries) == ["agent.update", "routingrule.create"]
    assert config_revision_current() > version


def test_creating_an_agent_with_a_rule_inline_in_one_go_works(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:agents_agent_add"),
        _agent_form("backend") | _rule_inline(1, "data.contains_pii"),
    )

    assert response.status_code == 302, _form_errors(response)
    rule = RoutingRule.objects.get()
    assert (rule.scope, rule.agent.key) == (RuleScope.AGENT, "backend")


def test_the_rule_inline_shows_a_condition_error_with_its_position(admin_client: Client) -> None:
    agent = make_agent(key="cto", name="CTO")
    url = reverse("admin:agents_agent_change", args=[agent.pk])

    response = admin_client.post(url, _agent_form("cto") | _rule_inline(1, "task.nope == 1"))

    assert response.status_code == 200
    [formset] = response.context["inline_admin_formsets"]
    [errors] = formset.formset.errors
    assert errors["condition"][0].startswith("line 1, column 1: ")
    assert not RoutingRule.objects.exists()


def test_the_agent_model_is_the_only_agents_model_in_the_admin() -> None:
    registered = [m for m in admin.site._registry if m._meta.app_label == "agents"]

    assert registered == [Agent]


def test_the_admin_changelist_renders_for_every_agents_model(admin_client: Client) -> None:
    agent = make_agent(primary_model=make_model())
    make_rule(agent=agent)

    for model in admin.site._registry:
        if model._meta.app_label != "agents":
            continue
        url = reverse(f"admin:agents_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url


def test_the_agent_change_page_renders_with_its_rules(admin_client: Client) -> None:
    agent = make_agent(primary_model=make_model())
    make_rule(agent=agent, condition="data.contains_pii")

    response = admin_client.get(reverse("admin:agents_agent_change", args=[agent.pk]))

    assert response.status_code == 200
    assert b"data.contains_pii" in response.content
