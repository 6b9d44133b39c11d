"""Routing models, one module per concern; import them from here."""

from routing.models.audit import ChangeLogEntry, Decision
from routing.models.budgets import Budget, SessionTokenBudget, SessionUsage, SpendLedger
from routing.models.controls import (
    AgentModelOverride,
    ConfigRevision,
    ControlState,
    StrategyOverride,
    TaskOverride,
)
from routing.models.keys import ApiKey
from routing.models.policy import (
    EnvironmentProfile,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    Strategy,
)
from routing.models.registry import FallbackStep, LLMModel, Provider, TaskRoute

__all__ = [
    "AgentModelOverride",
    "ApiKey",
    "Budget",
    "ChangeLogEntry",
    "ConfigRevision",
    "ControlState",
    "Decision",
    "EnvironmentProfile",
    "FallbackStep",
    "LLMModel",
    "Provider",
    "RoutingFactor",
    "RoutingRule",
    "RoutingSettings",
    "SessionTokenBudget",
    "SessionUsage",
    "SpendLedger",
    "Strategy",
    "StrategyOverride",
    "TaskOverride",
    "TaskRoute",
]
