"""Steps d to f: global rules, the agent's rules (first match wins) and the agent's model
override. A rule whose condition reads `model.*` is evaluated once per candidate."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from routing.conditions import ConditionEvalError
from routing.engine.inputs import ModelInfo, RuleInfo
from routing.engine.result import Refusal
from routing.engine.run import (
    DENIED_BY_RULE,
    LOCAL_ONLY_ACTIONS,
    RATE_LIMIT_APPROACHING,
    Run,
    make_local_only,
)


def _budget(run: Run, attr: str, default: Any) -> Any:
    return getattr(run.budget, attr) if run.budget is not None else default


# How to compute each name of the condition language; a condition reads few of them,
# so they are computed on first use (most rules read one or two names).
_REQUEST_NAMES: dict[str, Callable[[Run], Any]] = {
    "task.id": lambda r: r.request.task_id,
    "task.type": lambda r: r.value("task_type"),
    "task.complexity": lambda r: r.value("complexity_score"),
    "task.complexity_level": lambda r: r.value("complexity_level"),
    "task.classification": lambda r: r.value("classification"),
    "task.privacy_level": lambda r: r.value("privacy_level"),
    "task.critical": lambda r: r.value("critical"),
    "task.requires_reasoning": lambda r: r.value("requires_reasoning"),
    "task.involves_ui_design": lambda r: r.value("involves_ui_design"),
    "task.tags": lambda r: list(r.request.tags),
    "task.estimated_tokens": lambda r: r.value("estimated_tokens"),
    "data.contains_pii": lambda r: bool(r.pii_types),
    "data.pii_types": lambda r: list(r.pii_types),
    "agent.key": lambda r: r.agent.key if r.agent else "",
    "budget_mode": lambda r: _budget(r, "budget_mode", False),
    "cost_limit_reached": lambda r: _budget(r, "cost_limit_reached", False),
    "daily_cost": lambda r: _budget(r, "daily_cost", 0.0),
    # No daily budget configured means no limit: `daily_cost > budget * 0.8` never holds.
    "budget": lambda r: _budget(r, "daily_budget", float("inf")),
    "session_tokens": lambda r: r.state.session_tokens,
    "warning_level": lambda r: r.warning_level,
    "force_local": lambda r: r.local_only,
    "strategy": lambda r: r.strategy.key if r.strategy else "",
}
_MODEL_NAMES: dict[str, Callable[[Run, ModelInfo], Any]] = {
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


# Names whose value can change while rules run (a rule may make the request local-only).
_VOLATILE = frozenset({"force_local", "warning_level"})


class _Context(dict[str, Any]):
    """The values a condition reads, computed on first read. Request values are shared by
    every rule of the run (run.rule_values). A model name with no model in question
    raises KeyError ("no value for ..."), and sets `wanted_model`."""

    def __init__(self, run: Run, model: ModelInfo | None) -> None:
        super().__init__()
        self.run = run
        self.model = model
        self.wanted_model = False

    def __missing__(self, name: str) -> Any:
        getter = _REQUEST_NAMES.get(name)
        if getter is not None:
            shared = self.run.rule_values
            if name in shared:
                return shared[name]
            value = getter(self.run)
            if name not in _VOLATILE:
                shared[name] = value
            return value
        if name in _MODEL_NAMES:
            if self.model is None:
                self.wanted_model = True
                raise KeyError(name)
            value = _MODEL_NAMES[name](self.run, self.model)
            self[name] = value
            return value
        raise KeyError(name)


def _matches(run: Run, rule: RuleInfo, model: ModelInfo | None) -> bool:
    if rule.condition is None:
        run.errors.append(f"{rule.label}: {rule.compile_error}")
        return False
    try:
        return rule.condition.evaluate(_Context(run, model))
    except ConditionEvalError as exc:
        # Recorded in the decision; a rule that cannot be evaluated does not fire.
        run.errors.append(f"{rule.label}: {exc.message}")
        return False


def _probe(run: Run, rule: RuleInfo) -> bool | None:
    """A per-model rule evaluated without a model: its answer when that does not depend
    on the model (`task.critical and model.type == 'local'` for a non-critical task),
    None when it does. Saves evaluating it once per candidate."""
    assert rule.condition is not None
    ctx = _Context(run, None)
    try:
        return rule.condition.evaluate(ctx)
    except ConditionEvalError as exc:
        if ctx.wanted_model:
            return None
        run.errors.append(f"{rule.label}: {exc.message}")
        return False


def _apply_action(run: Run, rule: RuleInfo, step: str, model: ModelInfo | None) -> bool:
    """Carry out a matched rule. Returns True when it decided the primary (first match)."""
    action = rule.action
    if action == "deny":
        run.refusal = Refusal(
            "denied_by_rule", DENIED_BY_RULE.format(rule=rule.label), {"rule": rule.label}
        )
        run.step(step, "denied", rule=rule.label)
        return True
    if action in LOCAL_ONLY_ACTIONS:
        if model is not None and not model.is_local:
            run.drop(model.key, step, f"rule {rule.label}: {action}")
        elif model is None:
            make_local_only(run, step, f"rule {rule.label}")
        return False
    if action == "switch_to_fallback":
        if model is not None:
            run.demoted.add(model.key)
            run.step(step, "demoted", rule=rule.label, model=model.key)
        elif run.agent and run.agent.fallback:
            return pin(
                run, run.agent.fallback, f"rule {rule.label}: switch to fallback", step, rule
            )
        return False
    if action == "require_cloud_verification":
        run.verify_models.add(model.key if model is not None else "*")
        run.step(step, "verification required", rule=rule.label, model=model.key if model else "*")
        return False
    if action == "use_model" and rule.model:
        return pin(run, rule.model, f"rule {rule.label}", step, rule)
    return False


def pin(run: Run, model: str, why: str, step: str, rule: RuleInfo | None = None) -> bool:
    if run.pinned is not None:
        run.step(step, "not applied", model=model, because=f"already pinned by {run.pinned_why}")
        return True
    if model not in run.eligible:
        lost = next((e for e in run.eliminated if e.model == model), None)
        run.step(
            step,
            "model not eligible",
            model=model,
            why=lost.reason if lost else "not in the registry",
        )
        return False
    run.pinned, run.pinned_why = model, why
    if rule is not None:
        run.rule = rule.label
    run.step(step, "chose", model=model, why=why)
    return True


def run_rules(run: Run, rules: Iterable[RuleInfo], step: str, first_match_wins: bool) -> None:
    fired = []
    for rule in rules:
        if not rule.enabled or run.refusal is not None:
            continue
        if rule.per_model:
            probe = _probe(run, rule)
            if probe is False:
                continue
            targets = (
                [run.snapshot.models[rule.model]]
                if rule.model in run.snapshot.models
                else list(run.eligible.values())
            )
            matched = [m for m in targets if probe or _matches(run, rule, m)]
            if not matched:
                continue
            fired.append(rule.label)
            run.rule = run.rule or rule.label
            for model in matched:
                _apply_action(run, rule, step, model)
            if first_match_wins:
                run.rule = rule.label
                break
            continue
        if _matches(run, rule, None):
            fired.append(rule.label)
            run.rule = run.rule or rule.label
            _apply_action(run, rule, step, None)
            # Agent rules: the first match wins. Global rules all apply (a pin does not
            # stop the privacy or verification rules after it); only a deny stops them.
            if first_match_wins:
                run.rule = rule.label
                break
    run.step(step, f"{len(fired)} fired" if fired else "none fired", fired=fired)


def agent_override(run: Run) -> None:
    if run.agent is None:
        return
    override = next(
        (
            o
            for o in run.snapshot.agent_model_overrides
            if o.target == run.agent.key and o.window.in_force(run.now)
        ),
        None,
    )
    if override is not None:
        pin(run, override.model, f"agent override #{override.window.id}", "agent_override")
