"""Seed 002's weighted routing factors, each scored 0..1 for one candidate model.

Pure arithmetic over the candidate, the request's features and the runtime state; the
strategy supplies the weights (or the global routing factors do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from routing.engine.inputs import ModelInfo

# How much a model can be trusted with hard work, by tier; reasoning capabilities add a
# little. A simple task wants a weak model (cheap, fast), a critical one a strong model.
TIER_STRENGTH = {"local": 0.45, "fast_cloud": 0.7, "premium": 1.0}
STRONG_CAPABILITIES = frozenset({"complex_reasoning", "architecture_design"})
PRIVACY_SENSITIVITY = {"low": 0.0, "medium": 0.5, "high": 1.0}


def strength(model: ModelInfo) -> float:
    base = TIER_STRENGTH.get(model.tier, 0.5)
    return min(1.0, base + (0.1 if model.capabilities & STRONG_CAPABILITIES else 0.0))


@dataclass(frozen=True, slots=True)
class ScoringContext:
    complexity_score: int
    privacy_level: str
    max_cost: float
    max_tokens_per_second: float
    rate_usage: Mapping[str, float]


def factor_scores(model: ModelInfo, cost: float | None, ctx: ScoringContext) -> dict[str, float]:
    need = ctx.complexity_score / 10
    if cost is None:
        cost_efficiency = 0.0  # an unknown price is scored as the worst price
    elif ctx.max_cost <= 0:
        cost_efficiency = 1.0
    else:
        cost_efficiency = 1.0 - cost / ctx.max_cost
    privacy = 1.0 if model.is_local else 1.0 - PRIVACY_SENSITIVITY.get(ctx.privacy_level, 0.0)
    if model.tokens_per_second and ctx.max_tokens_per_second > 0:
        performance = min(1.0, model.tokens_per_second / ctx.max_tokens_per_second)
    else:
        performance = 0.5
    return {
        "task_complexity": round(1.0 - abs(strength(model) - need), 4),
        "cost_efficiency": round(cost_efficiency, 4),
        "privacy_requirements": round(privacy, 4),
        "performance_needs": round(performance, 4),
        "model_availability": round(1.0 - min(1.0, ctx.rate_usage.get(model.key, 0.0)), 4),
    }


def weighted(factors: Mapping[str, float], weights: Mapping[str, float]) -> float:
    total = sum(weights.get(name, 0.0) for name in factors)
    if total <= 0:
        return 0.0
    return round(sum(value * weights.get(name, 0.0) for name, value in factors.items()) / total, 4)
