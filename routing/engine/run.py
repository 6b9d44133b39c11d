"""The state of one decision while the engine builds it, and the constants its steps share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from routing.engine.budgets import BudgetVerdict
from routing.engine.inputs import (
    LOCAL,
    AgentInfo,
    ModelInfo,
    RouteRequest,
    RuntimeState,
    Snapshot,
    StrategyInfo,
)
from routing.engine.result import NORMAL, Elimination, FeatureValue, Refusal, TraceStep

MAX_CHAIN = 4
DEFAULT_COMPLETION_TOKENS = 512  # when the caller sets no max_tokens
LONG_CONTEXT_TOKENS = 32_000  # seed 003: beyond this, a long-context model
RATE_LIMIT_APPROACHING = 0.8  # seed 002's rate_limit_protection threshold
LOCAL_ONLY_ACTIONS = frozenset({"force_local_model", "switch_to_local_only"})
FALLBACK_STRATEGY = "balanced"
COMPLEXITY_BAND = {
    "simple": "simple",
    "moderate": "medium",
    "complex": "complex",
    "critical": "complex",
}

UNKNOWN_AGENT = "unknown agent '{agent}'"
NO_ELIGIBLE_MODEL = "no model can serve this request: {why}"
BUDGET_EXCEEDED = "budget exceeded: {scope} {period} limit ${limit:.2f} (spent ${spent:.2f})"
DENIED_BY_RULE = "denied by rule {rule}"


@dataclass
class Run:
    request: RouteRequest
    snapshot: Snapshot
    state: RuntimeState
    now: datetime
    agent: AgentInfo | None = None
    features: dict[str, FeatureValue] = field(default_factory=dict)
    pii_types: tuple[str, ...] = ()
    strategy: StrategyInfo | None = None
    strategy_source: str = "default"
    local_only: bool = False
    local_only_why: list[str] = field(default_factory=list)
    eligible: dict[str, ModelInfo] = field(default_factory=dict)
    eliminated: list[Elimination] = field(default_factory=list)
    trace: list[TraceStep] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pinned: str | None = None
    pinned_why: str = ""
    rule: str | None = None
    demoted: set[str] = field(default_factory=set)
    verify_models: set[str] = field(default_factory=set)
    bonus: dict[str, float] = field(default_factory=dict)
    warning_level: str = NORMAL
    budget: BudgetVerdict | None = None
    refusal: Refusal | None = None
    completion_tokens: int = DEFAULT_COMPLETION_TOKENS
    rule_values: dict[str, Any] = field(default_factory=dict)  # condition names, computed once

    # -- small helpers -------------------------------------------------------------------
    def step(self, step: str, outcome: str, **detail: Any) -> None:
        self.trace.append(TraceStep(step, outcome, detail))

    def drop(self, key: str, step: str, reason: str, **values: Any) -> None:
        if key in self.eligible:
            del self.eligible[key]
            self.eliminated.append(Elimination(key, step, reason, values))

    def drop_cloud(self, step: str, reason: str, **values: Any) -> None:
        # drop() inlined: a local-only request loses every cloud model at once.
        eligible, eliminated = self.eligible, self.eliminated
        for key in [k for k, m in eligible.items() if m.type != LOCAL]:
            del eligible[key]
            eliminated.append(Elimination(key, step, reason, dict(values)))

    def cost(self, model: ModelInfo) -> float | None:
        tokens = self.features["estimated_tokens"].value
        return model.estimated_cost(tokens, self.completion_tokens)

    def value(self, name: str) -> Any:
        return self.features[name].value


def make_local_only(run: Run, step: str, why: str) -> None:
    run.local_only = True
    run.local_only_why.append(why)
    run.drop_cloud(step, f"local only: {why}")
    run.step(step, "local only", why=why)
