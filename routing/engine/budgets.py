"""Step c of the decision: budgets, the cost circuit breaker and session token budgets.

- An exhausted budget (spent >= limit) blocks the *paid* models of its scope; a $0
  local model is never blocked by money.
- Above a budget's warning threshold (seed 002's cost_circuit_breaker, 80% by default)
  the scope turns local-only: global and agent budgets make the whole request local,
  provider and model budgets drop that provider's or model's cloud models.
- A per-request cap drops every model whose estimated cost is above it (and cloud
  models whose price is unknown, since they cannot be shown to fit).
- Seed 004's session budget: at the switch level every request of the session goes
  local; at the warning level routine tasks do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from routing.engine.inputs import BudgetInfo, ModelInfo, RuntimeState, Snapshot, StrategyInfo
from routing.engine.prepared import prepared
from routing.engine.result import CRITICAL, NORMAL, WARNING, worse


@dataclass
class BudgetVerdict:
    warning_level: str = NORMAL
    session_level: str = NORMAL
    blocked: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    local_only_why: str = ""
    exhausted: list[dict[str, Any]] = field(default_factory=list)
    budget_mode: bool = False
    cost_limit_reached: bool = False
    daily_cost: float = 0.0
    daily_budget: float = float("inf")
    summary: dict[str, Any] = field(default_factory=dict)


def _applies(budget: BudgetInfo, agent: str | None) -> bool:
    return budget.scope != "agent" or budget.target == agent


def evaluate_budgets(
    *,
    snapshot: Snapshot,
    state: RuntimeState,
    strategy: StrategyInfo,
    agent: str | None,
    classification: str,
    models: Sequence[ModelInfo],
    cost: Callable[[ModelInfo], float | None],
) -> BudgetVerdict:
    v = BudgetVerdict()
    local_why: list[str] = []
    v.daily_cost = state.spend.get(("global", "", "day"), 0.0)
    levels: dict[str, str] = {}

    # A model keeps the first reason it was blocked for, so the loops below skip the
    # models blocked already instead of building a reason and values to throw away.
    blocked = v.blocked

    def block(model: ModelInfo, reason: str, **values: Any) -> None:
        blocked[model.key] = (reason, values)

    # Index the candidates once instead of testing every budget against every model.
    by_provider: dict[str, list[ModelInfo]] = {}
    by_key: dict[str, list[ModelInfo]] = {}
    for model in models:
        by_provider.setdefault(model.provider, []).append(model)
        by_key[model.key] = [model]

    def in_scope(budget: BudgetInfo) -> Sequence[ModelInfo]:
        if budget.scope == "provider":
            return by_provider.get(budget.target, [])
        if budget.scope == "model":
            return by_key.get(budget.target, [])
        return models  # only read

    costs: dict[str, float | None] = {}

    def cost_of(model: ModelInfo) -> float | None:
        if model.key not in costs:
            costs[model.key] = cost(model)
        return costs[model.key]

    for budget, label in zip(snapshot.budgets, prepared(snapshot).budget_labels, strict=True):
        if not _applies(budget, agent):
            continue
        scoped = in_scope(budget)
        if budget.scope == "global" and budget.period == "day" and budget.limit_usd is not None:
            v.daily_budget = budget.limit_usd
        if budget.limit_usd is not None:
            spent = state.spend.get((budget.scope, budget.target, budget.period), 0.0)
            share = spent / budget.limit_usd if budget.limit_usd > 0 else float("inf")
            values = {"spent_usd": round(spent, 6), "limit_usd": budget.limit_usd}
            if spent >= budget.limit_usd:
                levels[label] = CRITICAL
                v.cost_limit_reached = True
                v.exhausted.append(
                    {
                        "scope": budget.scope,
                        "target": budget.target,
                        "period": budget.period,
                        "limit": budget.limit_usd,
                        "spent": spent,
                    }
                )
                reason = f"budget {label} exhausted"
                for model in scoped:
                    if model.key not in blocked and model.is_paid:
                        block(model, reason, **values)
            elif share >= budget.warning_threshold:
                levels[label] = WARNING
                why = (
                    f"cost circuit breaker: {label} spend at {share:.0%} of ${budget.limit_usd:.2f}"
                )
                if budget.scope in ("global", "agent"):
                    local_why.append(why)
                else:
                    for model in scoped:
                        if model.key not in blocked and not model.is_local:
                            block(model, why, **values)
            else:
                levels[label] = NORMAL
        cap = budget.per_request_usd
        if cap is not None:
            unknown = f"price unknown; cannot honour the {label} per-request cap"
            over = f"estimated cost over the {label} per-request cap"
            for model in scoped:
                if model.key in blocked:
                    continue
                estimate = cost_of(model)
                if estimate is None and not model.is_local:
                    block(model, unknown, cap_usd=cap)
                elif estimate is not None and estimate > cap:
                    block(model, over, estimated_usd=round(estimate, 6), cap_usd=cap)

    for name, limit in (
        (f"strategy {strategy.key} cloud budget", strategy.cloud_budget_per_day),
        (
            f"environment {snapshot.environment.name} cloud spend cap"
            if snapshot.environment
            else "",
            snapshot.environment.max_cloud_spend_per_day if snapshot.environment else None,
        ),
    ):
        if limit is not None and v.daily_cost >= limit:
            local_why.append(f"{name} of ${limit:.2f} per day reached (${v.daily_cost:.2f})")
            levels[name] = CRITICAL

    session = snapshot.agent_session_budgets.get(agent or "", snapshot.session_budget)
    tokens = state.session_tokens
    if tokens >= session.switch_tokens:
        v.session_level = CRITICAL
        local_why.append(
            f"session used {tokens} tokens (switch to local at {session.switch_tokens})"
        )
    elif tokens >= session.warning_tokens:
        v.session_level = WARNING
        if classification == "routine":
            local_why.append(
                f"session used {tokens} tokens (warning at {session.warning_tokens}); routine task"
            )

    for level in [*levels.values(), v.session_level]:
        v.warning_level = worse(v.warning_level, level)
    v.local_only_why = "; ".join(local_why)
    v.budget_mode = v.warning_level != NORMAL
    v.summary = {
        "levels": levels,
        "session_tokens": tokens,
        "session_level": v.session_level,
        "blocked": sorted(v.blocked),
    }
    return v
