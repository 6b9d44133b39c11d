"""Steps d to f: global rules, the agent's rules (first match wins) and the agent's model
override. A rule whose condition reads `model.*` is evaluated once per candidate."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from routing.conditions import ConditionEvalError
from routing.engine.inputs import ModelInfo, RuleInfo
from routing.engine.prepared import prepared
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
# Names whose value can change while rules run (a rule may make the request local-only).
_VOLATILE = frozenset({"force_local", "warning_level"})


def _request_value(run: Run, name: str) -> Any:
    """A request name's value; computed once per run (run.rule_values) unless volatile.
    KeyError when it has none (a replay's stored features may lack one)."""
    shared = run.rule_values
    if name in shared:
        return shared[name]
    value = _REQUEST_NAMES[name](run)
    if name not in _VOLATILE:
        shared[name] = value
    return value


class _Context(dict[str, Any]):
    """The values a condition reads without a model in question, computed on first read.
    A model name raises KeyError ("no value for ...") and sets `wanted_model`."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.wanted_model = False

    def __missing__(self, name: str) -> Any:
        if name in _REQUEST_NAMES:
            return _request_value(self.run, name)
        if name.startswith("model."):
            self.wanted_model = True
        raise KeyError(name)


@functools.lru_cache(maxsize=1024)
def _split_names(names: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A condition's request names and model names, sorted (frozensets cache their hash,
    so this is a cheap lookup)."""
    return (
        tuple(sorted(name for name in names if name in _REQUEST_NAMES)),
        tuple(sorted(name for name in names if name.startswith("model."))),
    )


def _outcome(rule: RuleInfo, context: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Whether the rule matches, and the error to record when it cannot be evaluated (a
    rule that cannot be evaluated does not fire)."""
    assert rule.condition is not None
    try:
        return rule.condition.evaluate(context), None
    except ConditionEvalError as exc:
        return False, f"{rule.label}: {exc.message}"


def _matches(run: Run, rule: RuleInfo) -> bool:
    if rule.condition is None:
        run.errors.append(f"{rule.label}: {rule.compile_error}")
        return False
    matched, error = _outcome(rule, _Context(run))
    if error is not None:
        run.errors.append(error)
    return matched


def _matching_models(run: Run, rule: RuleInfo, targets: list[ModelInfo]) -> list[ModelInfo]:
    """The targets a per-model rule matches.

    Its answer depends on the request values and on the model values it reads, so it is
    evaluated once per group of models that agree on those (prepared.model_groups) and
    on the rate limit, not once per model: `model.provider == 'openai'` has as many
    answers as there are providers. The context is a plain dict: the model's values
    (with the rate limit when the condition reads it), then the request values it reads,
    which cannot change while its models are evaluated. A name without a value is left
    out, so reading it fails as in _Context. Errors are recorded once per model, in
    order, as if each model had been evaluated."""
    assert rule.condition is not None
    request_names, model_names = _split_names(rule.condition.names)
    request_values = {}
    for name in request_names:
        with contextlib.suppress(KeyError):
            request_values[name] = _request_value(run, name)
    prep = prepared(run.snapshot)
    groups = prep.model_groups(model_names)
    reads_rate = "model.rate_limit_approaching" in model_names
    usage = run.state.rate_usage
    outcomes: dict[tuple[int, bool], tuple[bool, str | None]] = {}
    matched = []
    for model in targets:
        approaching = reads_rate and usage.get(model.key, 0.0) >= RATE_LIMIT_APPROACHING
        group = (groups[model.key], approaching)
        outcome = outcomes.get(group)
        if outcome is None:
            context = {**prep.model_values[model.key], **request_values}
            if reads_rate:
                context["model.rate_limit_approaching"] = approaching
            outcome = outcomes[group] = _outcome(rule, context)
        if outcome[1] is not None:
            run.errors.append(outcome[1])
        if outcome[0]:
            matched.append(model)
    return matched


def _probe(run: Run, rule: RuleInfo) -> bool | None:
    """A per-model rule evaluated without a model: its answer when that does not depend
    on the model (`task.critical and model.type == 'local'` for a non-critical task),
    None when it does. Saves evaluating it once per candidate."""
    assert rule.condition is not None
    ctx = _Context(run)
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
        # rule.per_model, from the cached split of the condition's names.
        if rule.condition is not None and _split_names(rule.condition.names)[1]:
            probe = _probe(run, rule)
            if probe is False:
                continue
            targets = (
                [run.snapshot.models[rule.model]]
                if rule.model in run.snapshot.models
                else list(run.eligible.values())
            )
            matched = targets if probe else _matching_models(run, rule, targets)
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
        if _matches(run, rule):
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
