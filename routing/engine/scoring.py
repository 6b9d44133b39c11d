"""Seed 002's weighted routing factors, each scored 0..1 for one candidate model.

Pure arithmetic over the candidate, the request's features and the runtime state; the
strategy supplies the weights (or the global routing factors do).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping

from routing.engine.inputs import ModelInfo

# How much a model can be trusted with hard work, by tier; reasoning capabilities add a
# little. A simple task wants a weak model (cheap, fast), a critical one a strong model.
TIER_STRENGTH = {"local": 0.45, "fast_cloud": 0.7, "premium": 1.0}
STRONG_CAPABILITIES = frozenset({"complex_reasoning", "architecture_design"})
PRIVACY_SENSITIVITY = {"low": 0.0, "medium": 0.5, "high": 1.0}


def strength(model: ModelInfo) -> float:
    base = TIER_STRENGTH.get(model.tier, 0.5)
    return min(1.0, base + (0.1 if model.capabilities & STRONG_CAPABILITIES else 0.0))


# The factors, in the order Scorer.factors gives them.
FACTORS = (
    "task_complexity",
    "cost_efficiency",
    "privacy_requirements",
    "performance_needs",
    "model_availability",
)


class Scorer:
    """The factors and the weighted score of each candidate of one decision. What is the
    same for every candidate (the need, a cloud model's privacy factor, the weights) is
    worked out once here: a request without an agent may score the whole registry."""

    __slots__ = (
        "cloud_privacy",
        "max_cost",
        "max_tokens_per_second",
        "need",
        "rate_usage",
        "shares",
        "total",
    )

    def __init__(
        self,
        *,
        complexity_score: int,
        privacy_level: str,
        max_cost: float,
        max_tokens_per_second: float,
        rate_usage: Mapping[str, float],
        weights: Mapping[str, float],
    ) -> None:
        self.need = complexity_score / 10
        self.cloud_privacy = round(1.0 - PRIVACY_SENSITIVITY.get(privacy_level, 0.0), 4)
        self.max_cost = max_cost
        self.max_tokens_per_second = max_tokens_per_second
        self.rate_usage = rate_usage
        self.shares = [weights.get(name, 0.0) for name in FACTORS]
        self.total = sum(self.shares)

    def factors(self, model: ModelInfo, cost: float | None) -> dict[str, float]:
        """Each factor 0..1, rounded to 4 places (0.0, 0.5 and 1.0 need no rounding)."""
        if cost is None:
            cost_efficiency = 0.0  # an unknown price is scored as the worst price
        elif self.max_cost <= 0:
            cost_efficiency = 1.0
        else:
            cost_efficiency = round(1.0 - cost / self.max_cost, 4)
        speed = model.tokens_per_second
        if speed and self.max_tokens_per_second > 0:
            performance = round(min(1.0, speed / self.max_tokens_per_second), 4)
        else:
            performance = 0.5
        usage = self.rate_usage.get(model.key, 0.0)
        return {  # in the order of FACTORS
            "task_complexity": round(1.0 - abs(strength(model) - self.need), 4),
            "cost_efficiency": cost_efficiency,
            "privacy_requirements": 1.0 if model.is_local else self.cloud_privacy,
            "performance_needs": performance,
            "model_availability": round(1.0 - min(1.0, usage), 4),
        }

    def score(self, factors: Mapping[str, float]) -> float:
        """The weighted average of ``factors`` (named as FACTORS, in that order), rounded
        to 4 places; 0 when the weights add up to nothing."""
        if self.total <= 0:
            return 0.0
        return round(sum(map(operator.mul, factors.values(), self.shares)) / self.total, 4)
