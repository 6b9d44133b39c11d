"""Routing models, one module per concern; import them from here."""

from routing.models.audit import ChangeLogEntry, ConfigSnapshot, Decision
from routing.models.budgets import Budget, SessionTokenBudget, SessionUsage, SpendLedger
from routing.models.controls import (
    AgentModelOverride,
    ConfigRevision,
    ControlState,
    StrategyOverride,
    TaskOverride,
)
from routing.models.jobs import BatchItem, BatchJob, BatchStatus, ModelHealth
from routing.models.keys import ApiKey
from routing.models.policy import (
    EnvironmentProfile,
    Experiment,
    ExperimentVariant,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    Strategy,
)
from routing.models.registry import FallbackStep, LLMModel, Provider, TaskRoute
from routing.models.rollups import (
    AttemptRollup,
    DecisionRollup,
    LatencyRollup,
    PiiTypeRollup,
    RollupGranularity,
    RollupWatermark,
)

__all__ = [
    "AgentModelOverride",
    "ApiKey",
    "AttemptRollup",
    "BatchItem",
    "BatchJob",
    "BatchStatus",
    "Budget",
    "ChangeLogEntry",
    "ConfigRevision",
    "ConfigSnapshot",
    "ControlState",
    "Decision",
    "DecisionRollup",
    "EnvironmentProfile",
    "Experiment",
    "ExperimentVariant",
    "FallbackStep",
    "LLMModel",
    "LatencyRollup",
    "ModelHealth",
    "PiiTypeRollup",
    "Provider",
    "RollupGranularity",
    "RollupWatermark",
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
