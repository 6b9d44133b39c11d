"""Small typed factories: each creates one valid row with sensible defaults.

Keyword overrides are passed straight to `objects.create`, which skips `full_clean`, so
a test can build a row the database itself must reject. Related rows a factory needs
are created on the fly unless given.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.utils import timezone

from agents.models import Agent
from routing.choices import (
    BudgetPeriod,
    BudgetScope,
    ChangeSource,
    DecisionOutcome,
    LedgerScope,
    ModelType,
    OverrideScope,
    ProviderKind,
    RuleAction,
    RuleScope,
    Tier,
)
from routing.models import (
    AgentModelOverride,
    Budget,
    ChangeLogEntry,
    Decision,
    EnvironmentProfile,
    LLMModel,
    Provider,
    RoutingRule,
    SessionTokenBudget,
    SpendLedger,
    Strategy,
    StrategyOverride,
    TaskOverride,
)

_sequence = itertools.count(1)


def _next() -> int:
    return next(_sequence)


def make_user(role: str | None = "viewer", **overrides: Any) -> AbstractBaseUser:
    """A user in one of the role groups (routing.roles): "admin", "operator", "viewer",
    or None for a user with no role. Admins and operators may also use the Django admin."""
    if role not in {"admin", "operator", "viewer", None}:
        raise ValueError(f"unknown role {role!r}")
    n = _next()
    fields: dict[str, Any] = {
        "username": f"{role or 'nobody'}-{n}",
        "email": f"{role or 'nobody'}-{n}@example.test",
        "is_staff": role in {"admin", "operator"},
    }
    fields.update(overrides)
    password = fields.pop("password", "password")
    user = get_user_model().objects.create_user(password=password, **fields)
    if role is not None:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def make_provider(**overrides: Any) -> Provider:
    n = _next()
    fields: dict[str, Any] = {
        "name": f"provider-{n}",
        "kind": ProviderKind.SIMULATED,
        "tier": Tier.LOCAL,
    }
    fields.update(overrides)
    return Provider.objects.create(**fields)


def make_model(**overrides: Any) -> LLMModel:
    n = _next()
    fields: dict[str, Any] = {
        "key": f"model-{n}",
        "model_id": f"upstream-{n}",
        "type": ModelType.LOCAL,
        "cost_input_per_1k": Decimal("0"),
        "cost_output_per_1k": Decimal("0"),
        "context_window": 8192,
    }
    fields.update(overrides)
    if "provider" not in fields and "provider_id" not in fields:
        fields["provider"] = make_provider()
    return LLMModel.objects.create(**fields)


def make_agent(**overrides: Any) -> Agent:
    n = _next()
    fields: dict[str, Any] = {"key": f"agent-{n}", "name": f"Agent {n}"}
    fields.update(overrides)
    return Agent.objects.create(**fields)


def make_strategy(**overrides: Any) -> Strategy:
    fields: dict[str, Any] = {"key": f"strategy-{_next()}"}
    fields.update(overrides)
    return Strategy.objects.create(**fields)


def make_rule(**overrides: Any) -> RoutingRule:
    """A global rule, or an agent rule when `agent=` is given."""
    n = _next()
    is_agent_rule = overrides.get("agent") is not None
    fields: dict[str, Any] = {
        "scope": RuleScope.AGENT if is_agent_rule else RuleScope.GLOBAL,
        "name": "" if is_agent_rule else f"rule-{n}",
        "position": n,
        "condition": "task.complexity > 5",
        "action": RuleAction.FORCE_LOCAL,
    }
    fields.update(overrides)
    return RoutingRule.objects.create(**fields)


def make_budget(**overrides: Any) -> Budget:
    """A global daily budget, or one scoped to the agent, provider or model given."""
    scope = BudgetScope.GLOBAL
    for target in ("agent", "provider", "model"):
        if overrides.get(target) is not None:
            scope = BudgetScope(target)
    fields: dict[str, Any] = {
        "scope": scope,
        "period": BudgetPeriod.DAY,
        "limit_usd": Decimal("10"),
    }
    fields.update(overrides)
    return Budget.objects.create(**fields)


def make_session_token_budget(**overrides: Any) -> SessionTokenBudget:
    is_agent = overrides.get("agent") is not None
    fields: dict[str, Any] = {"scope": RuleScope.AGENT if is_agent else RuleScope.GLOBAL}
    fields.update(overrides)
    return SessionTokenBudget.objects.create(**fields)


def _override_times(overrides: dict[str, Any]) -> dict[str, Any]:
    starts_at = overrides.get("starts_at", timezone.now())
    return {
        "starts_at": starts_at,
        "expires_at": starts_at + timedelta(hours=1),
        "reason": "testing",
        "author_label": "tester",
    }


def make_strategy_override(**overrides: Any) -> StrategyOverride:
    """A global override for the next hour, or one for `agent=` when given."""
    is_agent = overrides.get("agent") is not None
    fields = _override_times(overrides)
    fields["scope"] = OverrideScope.AGENT if is_agent else OverrideScope.GLOBAL
    fields.update(overrides)
    if "strategy" not in fields and "strategy_id" not in fields:
        fields["strategy"] = make_strategy()
    return StrategyOverride.objects.create(**fields)


def make_agent_model_override(**overrides: Any) -> AgentModelOverride:
    fields = _override_times(overrides)
    fields.update(overrides)
    if "agent" not in fields and "agent_id" not in fields:
        fields["agent"] = make_agent()
    if "model" not in fields and "model_id" not in fields:
        fields["model"] = make_model()
    return AgentModelOverride.objects.create(**fields)


def make_task_override(**overrides: Any) -> TaskOverride:
    fields = _override_times(overrides)
    fields["task_id"] = f"task-{_next()}"
    fields.update(overrides)
    if "model" not in fields and "model_id" not in fields:
        fields["model"] = make_model()
    return TaskOverride.objects.create(**fields)


def make_spend_ledger(**overrides: Any) -> SpendLedger:
    """Today's global bucket unless told otherwise."""
    fields: dict[str, Any] = {
        "scope": LedgerScope.GLOBAL,
        "key": "",
        "period": BudgetPeriod.DAY,
        "period_start": timezone.now().date(),
        "cost_usd": Decimal("0.01"),
        "requests": 1,
    }
    fields.update(overrides)
    return SpendLedger.objects.create(**fields)


def make_decision(**overrides: Any) -> Decision:
    fields: dict[str, Any] = {
        "outcome": DecisionOutcome.SUCCESS,
        "strategy": "balanced",
        "model_used": "model-x",
        "provider": "provider-x",
        "cost_usd": Decimal("0.001"),
        "latency_ms": 120,
    }
    fields.update(overrides)
    return Decision.objects.create(**fields)


def make_change_log_entry(**overrides: Any) -> ChangeLogEntry:
    fields: dict[str, Any] = {
        "actor_label": "tester",
        "source": ChangeSource.CLI,
        "action": "provider.update",
        "target_type": "provider",
        "target_key": f"provider-{_next()}",
    }
    fields.update(overrides)
    return ChangeLogEntry.objects.create(**fields)


def make_environment(**overrides: Any) -> EnvironmentProfile:
    fields: dict[str, Any] = {"name": f"env-{_next()}"}
    fields.update(overrides)
    return EnvironmentProfile.objects.create(**fields)
