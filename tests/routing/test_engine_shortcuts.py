"""The engine's shortcuts give exactly what the plain computations they replace give.

Each shortcut (a per-model rule evaluated once per group of alike models, the scorer's
per-decision constants, the data prepared once per snapshot) is checked against the
straightforward code it replaced, kept here as the reference, on generated inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.conditions import ConditionEvalError, compile_condition
from routing.engine import build_snapshot, decide
from routing.engine.decide import _availability, _extract_features, _resolve_strategy
from routing.engine.inputs import ModelInfo, RuleInfo
from routing.engine.rules import _matching_models, _request_value
from routing.engine.run import RATE_LIMIT_APPROACHING, Run
from routing.engine.scoring import PRIVACY_SENSITIVITY, Scorer, strength
from tests.engine_data import NOW, request, seed_data, state

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- per-model rules ---------------------------------------------------------------------

# How the engine read a model's values before they were prepared per snapshot.
REFERENCE_MODEL_NAMES = {
    "model.key": lambda r, m: m.key,
    "model.type": lambda r, m: m.type,
    "model.provider": lambda r, m: m.provider,
    "model.tier": lambda r, m: m.tier,
    "model.rate_limit_approaching": lambda r, m: (
        r.state.rate_usage.get(m.key, 0.0) >= RATE_LIMIT_APPROACHING
    ),
    "model.cost_per_1k_input": lambda r, m: m.cost_input_per_1k,
    "model.cost_per_1k_output": lambda r, m: m.cost_output_per_1k,
    "model.context_window": lambda r, m: m.context_window,
    "model.capabilities": lambda r, m: sorted(m.capabilities),
}


class ReferenceContext(dict[str, Any]):
    """One model's values, read lazily: the context every model was evaluated with."""

    def __init__(self, run: Run, model: ModelInfo) -> None:
        super().__init__()
        self.run, self.model = run, model

    def __missing__(self, name: str) -> Any:
        if name in REFERENCE_MODEL_NAMES:
            return REFERENCE_MODEL_NAMES[name](self.run, self.model)
        return _request_value(self.run, name)


def reference_matches(
    run: Run, rule: RuleInfo, targets: list[ModelInfo]
) -> tuple[list[str], list[str]]:
    assert rule.condition is not None
    matched, errors = [], []
    for model in targets:
        try:
            if rule.condition.evaluate(ReferenceContext(run, model)):
                matched.append(model.key)
        except ConditionEvalError as exc:
            errors.append(f"{rule.label}: {exc.message}")
    return matched, errors


# Conditions over model names alone, some that fail on some models (a null context
# window, a list compared with a number), combined with request names.
MODEL_TESTS = [
    "model.provider == 'openai'",
    "model.type == 'local'",
    "model.tier in ['premium', 'fast_cloud']",
    "model.rate_limit_approaching",
    "not model.rate_limit_approaching and model.tier == 'premium'",
    "model.cost_per_1k_output > 0.01",
    "model.cost_per_1k_input == 0",
    "model.cost_per_1k_input * 2 > model.cost_per_1k_output",
    "model.context_window >= 100000",
    "model.context_window == 8000",
    "model.context_window > 'a'",  # the error names the type: int, float or null
    "'vision' in model.capabilities",
    "model.capabilities == ['tools']",
    "model.capabilities > 1",
    "model.key == 'm1' or model.key == 'm3'",
    "1 / model.cost_per_1k_input > 10",
]
REQUEST_TESTS = [
    "task.complexity >= 5",
    "task.privacy_level != 'low'",
    "data.contains_pii",
    "task.tags > 1",
    "daily_cost > budget * 0.5",
    "force_local",
    "task.type == 'chat'",
]
CONDITIONS = st.one_of(
    st.sampled_from(MODEL_TESTS),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(MODEL_TESTS),
        st.sampled_from(["and", "or"]),
        st.sampled_from([*REQUEST_TESTS, *MODEL_TESTS]),
    ),
    st.builds(
        "{} {} ({})".format,
        st.sampled_from(REQUEST_TESTS),
        st.sampled_from(["and", "or"]),
        st.sampled_from(MODEL_TESTS),
    ),
)
# Alike values of different types (1, 1.0, True; 0.0, -0.0) must not be taken as equal.
PRICES = st.sampled_from([None, 0.0, -0.0, 0, 0.01, 0.015, 1, 1.0, 0.075])
CAPABILITIES = st.frozensets(st.sampled_from(["vision", "tools", "code_generation"]))
MODELS = st.lists(
    st.fixed_dictionaries(
        {
            "provider": st.sampled_from(["openai", "anthropic", "groq", "simulated"]),
            "tier": st.sampled_from(["local", "fast_cloud", "premium"]),
            "type": st.sampled_from(["local", "cloud"]),
            "capabilities": CAPABILITIES.map(sorted),
            "cost_input_per_1k": PRICES,
            "cost_output_per_1k": PRICES,
            "context_window": st.sampled_from([None, 8000, 8000.0, 100_000, 200_000]),
            "tokens_per_second": st.sampled_from([None, 50.0, 120.0]),
        }
    ),
    min_size=1,
    max_size=12,
)


def _run(models: list[dict[str, Any]], usage: list[float], text: str, **fields: Any) -> Run:
    data = seed_data()
    data["models"] = [
        {"key": f"m{i}", "provider_kind": "openai_compatible", **m} for i, m in enumerate(models)
    ]
    snap = build_snapshot(data)
    rates = {f"m{i}": u for i, u in enumerate(usage)}
    run = Run(
        request=request(text, **fields), snapshot=snap, state=state(rate_usage=rates), now=NOW
    )
    _extract_features(run)
    _resolve_strategy(run)
    _availability(run)
    return run


@SETTINGS
@given(
    models=MODELS,
    usage=st.lists(st.sampled_from([0.0, 0.5, 0.8, 0.95]), max_size=12),
    condition=CONDITIONS,
    text=st.sampled_from(["hello", "write me a poem", "mail jo@example.com the report"]),
    fields=st.fixed_dictionaries(
        {
            "complexity": st.sampled_from([None, 2, 7]),
            "privacy_level": st.sampled_from([None, "low", "high"]),
            "tags": st.sampled_from([(), ("urgent",)]),
        }
    ),
)
def test_a_per_model_rule_matches_and_fails_as_when_evaluated_once_per_model(
    models: list[dict[str, Any]],
    usage: list[float],
    condition: str,
    text: str,
    fields: dict[str, Any],
) -> None:
    run = _run(models, usage, text, **fields)
    rule = RuleInfo(
        "", "global", 0, condition, compile_condition(condition), "", "deny", None, True
    )
    targets = list(run.snapshot.models.values())
    expected = reference_matches(run, rule, targets)
    errors_before = len(run.errors)
    matched = _matching_models(run, rule, targets)
    assert ([m.key for m in matched], run.errors[errors_before:]) == expected


# -- scoring -----------------------------------------------------------------------------


def reference_factors(
    model: ModelInfo, cost: float | None, ctx: Mapping[str, Any]
) -> dict[str, float]:
    """Seed 002's factors as the engine computed them before Scorer."""
    need = ctx["complexity_score"] / 10
    if cost is None:
        cost_efficiency = 0.0
    elif ctx["max_cost"] <= 0:
        cost_efficiency = 1.0
    else:
        cost_efficiency = 1.0 - cost / ctx["max_cost"]
    privacy = 1.0 if model.is_local else 1.0 - PRIVACY_SENSITIVITY.get(ctx["privacy_level"], 0.0)
    if model.tokens_per_second and ctx["max_tokens_per_second"] > 0:
        performance = min(1.0, model.tokens_per_second / ctx["max_tokens_per_second"])
    else:
        performance = 0.5
    return {
        "task_complexity": round(1.0 - abs(strength(model) - need), 4),
        "cost_efficiency": round(cost_efficiency, 4),
        "privacy_requirements": round(privacy, 4),
        "performance_needs": round(performance, 4),
        "model_availability": round(1.0 - min(1.0, ctx["rate_usage"].get(model.key, 0.0)), 4),
    }


def reference_weighted(factors: Mapping[str, float], weights: Mapping[str, float]) -> float:
    total = sum(weights.get(name, 0.0) for name in factors)
    if total <= 0:
        return 0.0
    return round(sum(value * weights.get(name, 0.0) for name, value in factors.items()) / total, 4)


UNIT = st.floats(min_value=0, max_value=1, allow_nan=False)
WEIGHTS = st.dictionaries(
    st.sampled_from(
        ["task_complexity", "cost_efficiency", "privacy_requirements", "performance_needs",
         "model_availability", "unknown_factor"]
    ),
    st.one_of(UNIT, st.integers(0, 3), st.just(-0.0)),
)  # fmt: skip


@SETTINGS
@given(
    models=MODELS,
    costs=st.lists(st.one_of(st.none(), st.floats(0, 5, allow_nan=False)), min_size=12),
    complexity=st.integers(1, 10),
    privacy=st.sampled_from(["low", "medium", "high", "secret"]),
    max_cost=st.one_of(st.just(0.0), st.floats(0, 5, allow_nan=False)),
    max_speed=st.sampled_from([0.0, 60.0, 120.0]),
    usage=st.lists(st.one_of(UNIT, st.just(1.5)), max_size=12),
    weights=WEIGHTS,
)
def test_the_scorer_gives_the_factors_and_score_of_the_plain_formulas_to_the_last_bit(
    models: list[dict[str, Any]],
    costs: list[float | None],
    complexity: int,
    privacy: str,
    max_cost: float,
    max_speed: float,
    usage: list[float],
    weights: dict[str, float],
) -> None:
    snap = build_snapshot(
        {"models": [{"key": f"m{i}", "provider_kind": "x", **m} for i, m in enumerate(models)]}
    )
    ctx = {
        "complexity_score": complexity,
        "privacy_level": privacy,
        "max_cost": max_cost,
        "max_tokens_per_second": max_speed,
        "rate_usage": {f"m{i}": u for i, u in enumerate(usage)},
    }
    scorer = Scorer(**ctx, weights=weights)
    for model, cost in zip(snap.models.values(), costs, strict=False):
        expected = reference_factors(model, cost, ctx)
        factors = scorer.factors(model, cost)
        assert repr(factors) == repr(expected)  # repr: 0.0 and -0.0 differ
        assert repr(scorer.score(factors)) == repr(reference_weighted(expected, weights))


# -- data prepared per snapshot ------------------------------------------------------------


def test_decisions_on_many_snapshots_in_turn_do_not_mix_up_their_prepared_data() -> None:
    """Prepared data is cached by snapshot identity; more snapshots than the cache holds,
    decided in turn, decide as a snapshot seen for the first time does."""
    configs = []
    for n in range(12):
        data = seed_data()
        data["rules"] = [
            *data["rules"],
            {
                "scope": "global",
                "name": f"r{n}",
                "position": 10,
                "condition": "model.cost_per_1k_output > 0.01",
                "action": "switch_to_fallback",
                "model": None,
                "enabled": True,
            },
        ]
        for i, model in enumerate(data["models"]):
            model["cost_output_per_1k"] = 0.02 if (i + n) % 3 == 0 else 0.001
            model["capabilities"] = model["capabilities"][: (i + n) % 4]
        data["budgets"] = [
            {"scope": "global", "target": "", "period": "day", "limit_usd": 10.0 + n}
        ]
        configs.append(data)
    snapshots = [build_snapshot(data) for data in configs]
    fields = {"agent": "backend_agent", "complexity": 8}
    for _ in range(2):
        for data, snap in zip(configs, snapshots, strict=True):
            got = decide(request("Write a function", **fields), snap, state(), now=NOW)
            fresh = decide(
                request("Write a function", **fields), build_snapshot(data), state(), now=NOW
            )
            assert got == fresh
