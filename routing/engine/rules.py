"""Steps d to f: global rules, the agent's rules (first match wins) and the agent's model
override. A rule whose condition reads `model.*` is evaluated once per candidate."""

from __future__ import annotations

from collections.abc import Iterable
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


def _context(run: Run, model: ModelInfo | None) -> dict[str, Any]:
    req = run.request
    verdict = run.budget
    ctx: dict[str, Any] = {
        "task.id": req.task_id,
        "task.type": run.value("task_type"),
        "task.complexity": run.value("complexity_score"),
        "task.complexity_level": run.value("complexity_level"),
        "task.classification": run.value("classification"),
        "task.privacy_level": run.value("privacy_level"),
        "task.critical": run.value("critical"),
        "task.requires_reasoning": run.value("requires_reasoning"),
        "task.involves_ui_design": run.value("involves_ui_design"),
        "task.tags": list(req.tags),
        "task.estimated_tokens": run.value("estimated_tokens"),
        "data.contains_pii": bool(run.pii_types),
        "data.pii_types": list(run.pii_types),
        "agent.key": run.agent.key if run.agent else "",
        "budget_mode": verdict.budget_mode if verdict else False,
        "cost_limit_reached": verdict.cost_limit_reached if verdict else False,
        "daily_cost": verdict.daily_cost if verdict else 0.0,
        "budget": verdict.daily_budget if verdict else float("inf"),
        "session_tokens": run.state.session_tokens,
        "warning_level": run.warning_level,
        "force_local": run.local_only,
        "strategy": run.strategy.key if run.strategy else "",
    }
    if model is not None:
        usage = run.state.rate_usage.get(model.key, 0.0)
        ctx |= {
            "model.key": model.key,
            "model.type": model.type,
            "model.provider": model.provider,
            "model.tier": model.tier,
            "model.rate_limit_approaching": usage >= RATE_LIMIT_APPROACHING,
            "model.cost_per_1k_input": model.cost_input_per_1k,
            "model.cost_per_1k_output": model.cost_output_per_1k,
            "model.context_window": model.context_window,
            "model.capabilities": sorted(model.capabilities),
        }
    return ctx


def _matches(run: Run, rule: RuleInfo, model: ModelInfo | None) -> bool:
    if rule.condition is None:
        run.errors.append(f"{rule.label}: {rule.compile_error}")
        return False
    try:
        return rule.condition.evaluate(_context(run, model))
    except ConditionEvalError as exc:
        # Recorded in the decision; a rule that cannot be evaluated does not fire.
        run.errors.append(f"{rule.label}: {exc.message}")
        return False


def _per_model(rule: RuleInfo) -> bool:
    return rule.condition is not None and any(n.startswith("model.") for n in rule.condition.names)


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
        if _per_model(rule):
            targets = (
                [run.snapshot.models[rule.model]]
                if rule.model in run.snapshot.models
                else list(run.eligible.values())
            )
            for model in targets:
                if _matches(run, rule, model):
                    fired.append(rule.label)
                    run.rule = run.rule or rule.label
                    _apply_action(run, rule, step, model)
            continue
        if _matches(run, rule, None):
            fired.append(rule.label)
            run.rule = run.rule or rule.label
            decided = _apply_action(run, rule, step, None)
            if first_match_wins:
                run.rule = rule.label
                break
            if decided:
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
