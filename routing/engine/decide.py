"""decide(request, snapshot, state, now=...) -> Decision: the pure routing decision.

No database, no network, no clock, no randomness: the same inputs always give the same
decision, so every audited decision can be explained and replayed. The steps run in
the order of the engine issue, and each leaves a line in the trace:

  features -> strategy -> a. task override -> b. privacy -> c. budgets
  -> d. global rules -> e. agent rules -> f. agent override -> g. strategy ordering
  -> h. A/B experiment -> chain

Models are never silently dropped: each one that cannot serve is listed with the step
and the values that eliminated it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from routing.conditions import ConditionEvalError
from routing.engine import features as feat
from routing.engine.budgets import BudgetVerdict, evaluate_budgets
from routing.engine.inputs import (
    AgentInfo,
    ModelInfo,
    RouteRequest,
    RuleInfo,
    RuntimeState,
    Snapshot,
    StrategyInfo,
)
from routing.engine.pii import scan_pii
from routing.engine.result import (
    CRITICAL,
    NORMAL,
    Candidate,
    Decision,
    Elimination,
    FeatureValue,
    Flags,
    Refusal,
    TraceStep,
    worse,
)
from routing.engine.scoring import ScoringContext, factor_scores, strength, weighted

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
class _Run:
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

    # -- small helpers -------------------------------------------------------------------
    def step(self, step: str, outcome: str, **detail: Any) -> None:
        self.trace.append(TraceStep(step, outcome, detail))

    def drop(self, key: str, step: str, reason: str, **values: Any) -> None:
        if key in self.eligible:
            del self.eligible[key]
            self.eliminated.append(Elimination(key, step, reason, values))

    def drop_cloud(self, step: str, reason: str, **values: Any) -> None:
        for key in [k for k, m in self.eligible.items() if not m.is_local]:
            self.drop(key, step, reason, **values)

    def cost(self, model: ModelInfo) -> float | None:
        tokens = self.features["estimated_tokens"].value
        return model.estimated_cost(tokens, self.completion_tokens)

    def value(self, name: str) -> Any:
        return self.features[name].value


def _feature(given: Any, inferred: Any, default_source: str = "inferred") -> FeatureValue:
    return (
        FeatureValue(given, "given")
        if given is not None
        else FeatureValue(inferred, default_source)
    )


def _extract_features(run: _Run) -> None:
    req = run.request
    tokens = feat.estimate_tokens(req.text)
    if req.complexity is not None:
        complexity = feat.complexity_from_given(req.complexity)
        source = "given"
    else:
        complexity = feat.classify_complexity(req.text, tokens)
        source = "inferred"
    task_type = (
        feat.normalize_task_type(req.task_type) if req.task_type else feat.infer_task_type(req.text)
    )
    findings = scan_pii(req.text)
    run.pii_types = tuple(f.type for f in findings)
    if req.privacy_level is not None:
        privacy = FeatureValue(req.privacy_level, "given")
    elif run.agent is not None:
        privacy = FeatureValue(run.agent.default_privacy_level, "agent_default")
    else:
        privacy = FeatureValue("low", "default")
    critical = complexity.level == "critical" or req.classification == "critical"
    classification = req.classification or ("critical" if critical else "routine")
    run.features = {
        "complexity_level": FeatureValue(complexity.level, source),
        "complexity_score": FeatureValue(complexity.score, source),
        "complexity_reasons": FeatureValue(list(complexity.reasons), source),
        "task_type": FeatureValue(task_type, "given" if req.task_type else "inferred"),
        "classification": _feature(req.classification, classification),
        "privacy_level": privacy,
        "estimated_tokens": FeatureValue(tokens, feat.token_counter_name()),
        "pii": FeatureValue({f.type: f.count for f in findings}, "inferred"),
        "critical": FeatureValue(
            critical, "given" if req.classification == "critical" else "inferred"
        ),
        "requires_reasoning": _feature(
            req.requires_reasoning, task_type in {"reasoning", "planning"}
        ),
        "involves_ui_design": _feature(req.involves_ui_design, False, "default"),
    }
    run.completion_tokens = req.max_tokens or DEFAULT_COMPLETION_TOKENS
    run.step(
        "features",
        "computed",
        **{k: v.value for k, v in run.features.items() if k != "complexity_reasons"},
    )


def _resolve_strategy(run: _Run) -> None:
    snap, now = run.snapshot, run.now
    key, source = snap.default_strategy, "default"
    if snap.environment and snap.environment.default_strategy:
        key, source = snap.environment.default_strategy, f"environment {snap.environment.name}"
    agent_key = run.agent.key if run.agent else None
    in_force = [o for o in snap.strategy_overrides if o.window.in_force(now)]
    global_override = next((o for o in in_force if o.agent is None), None)
    agent_override = next((o for o in in_force if agent_key and o.agent == agent_key), None)
    for override, label in (
        (global_override, "global override"),
        (agent_override, "agent override"),
    ):
        if override is not None:
            until = (
                override.window.expires_at.isoformat() if override.window.expires_at else "ended"
            )
            key, source = override.strategy, f"{label} #{override.window.id} until {until}"
    if key not in snap.strategies:
        run.errors.append(
            f"strategy '{key}' ({source}) is not configured; using {FALLBACK_STRATEGY}"
        )
        key, source = FALLBACK_STRATEGY, f"fallback ({source} named an unknown strategy)"
    run.strategy = snap.strategies.get(key) or StrategyInfo(
        key=FALLBACK_STRATEGY,
        prefer_local=False,
        prefer_cloud=False,
        allow_cloud=True,
        required_model_type="",
        cloud_budget_per_day=None,
        complexity_threshold=None,
        confidence_threshold=None,
        parallel_requests=False,
        cache_responses=False,
        cloud_for_complex_tasks=True,
        local_for_routine_tasks=True,
        dynamic_routing=True,
        weights={},
    )
    run.strategy_source = source
    run.step("strategy", run.strategy.key, source=source)


def _availability(run: _Run) -> None:
    """Models that cannot serve anyone right now: disabled, cooling down, unhealthy, or
    with a context window too small for this prompt."""
    needed = run.value("estimated_tokens") + run.completion_tokens
    for key, model in run.snapshot.models.items():
        run.eligible[key] = model
    for key, model in list(run.eligible.items()):
        until = run.state.cooling_down.get(key)
        if not model.enabled:
            run.drop(key, "availability", "disabled")
        elif until is not None and until > run.now:
            run.drop(key, "availability", "cooling down", until=until.isoformat())
        elif key in run.state.unhealthy:
            run.drop(key, "availability", "unhealthy (failed its health probe)")
        elif model.context_window is not None and model.context_window < needed:
            run.drop(
                key,
                "availability",
                "context window too small",
                context_window=model.context_window,
                needed_tokens=needed,
            )
    run.step("availability", f"{len(run.eligible)} of {len(run.snapshot.models)} models available")


def _task_override(run: _Run) -> None:
    task_id = run.request.task_id
    if not task_id:
        return
    override = next(
        (
            o
            for o in run.snapshot.task_overrides
            if o.target == task_id and o.window.in_force(run.now)
        ),
        None,
    )
    if override is None:
        run.step("task_override", "none", task_id=task_id)
        return
    run.pinned, run.pinned_why = override.model, f"task override #{override.window.id}"
    run.step(
        "task_override",
        "forced",
        model=override.model,
        override=override.window.id,
        reason=override.window.reason,
    )


def _privacy(run: _Run) -> None:
    snap = run.snapshot
    assert run.strategy is not None
    why = []
    if run.value("privacy_level") == "high":
        why.append("privacy level high")
    env_pii = snap.environment.require_local_for_pii if snap.environment else None
    if run.pii_types and env_pii is not False:
        why.append(f"PII found ({', '.join(run.pii_types)})")
    if run.strategy.local_only:
        why.append(f"strategy {run.strategy.key} allows local models only")
    if snap.force_local.in_force(run.now):
        why.append(f"force-local mode ({snap.force_local.reason or 'no reason given'})")
    if snap.environment and snap.environment.force_local_models:
        why.append(f"environment {snap.environment.name} forces local models")
    if why:
        _make_local_only(run, "privacy", "; ".join(why))
    else:
        run.step("privacy", "cloud allowed")


def _make_local_only(run: _Run, step: str, why: str) -> None:
    run.local_only = True
    run.local_only_why.append(why)
    run.drop_cloud(step, f"local only: {why}")
    run.step(step, "local only", why=why)


def _budgets(run: _Run) -> None:
    assert run.strategy is not None
    verdict = evaluate_budgets(
        snapshot=run.snapshot,
        state=run.state,
        strategy=run.strategy,
        agent=run.agent.key if run.agent else None,
        classification=run.value("classification"),
        models=list(run.eligible.values()),
        cost=run.cost,
    )
    run.budget = verdict
    run.warning_level = worse(run.warning_level, verdict.warning_level)
    for key, (reason, values) in verdict.blocked.items():
        run.drop(key, "budgets", reason, **values)
    if verdict.local_only_why:
        _make_local_only(run, "budgets", verdict.local_only_why)
    run.step("budgets", verdict.warning_level, **verdict.summary)


def _context(run: _Run, model: ModelInfo | None) -> dict[str, Any]:
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


def _matches(run: _Run, rule: RuleInfo, model: ModelInfo | None) -> bool:
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


def _apply_action(run: _Run, rule: RuleInfo, step: str, model: ModelInfo | None) -> bool:
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
            _make_local_only(run, step, f"rule {rule.label}")
        return False
    if action == "switch_to_fallback":
        if model is not None:
            run.demoted.add(model.key)
            run.step(step, "demoted", rule=rule.label, model=model.key)
        elif run.agent and run.agent.fallback:
            return _pin(
                run, run.agent.fallback, f"rule {rule.label}: switch to fallback", step, rule
            )
        return False
    if action == "require_cloud_verification":
        run.verify_models.add(model.key if model is not None else "*")
        run.step(step, "verification required", rule=rule.label, model=model.key if model else "*")
        return False
    if action == "use_model" and rule.model:
        return _pin(run, rule.model, f"rule {rule.label}", step, rule)
    return False


def _pin(run: _Run, model: str, why: str, step: str, rule: RuleInfo | None = None) -> bool:
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


def _rules(run: _Run, rules: Iterable[RuleInfo], step: str, first_match_wins: bool) -> None:
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


def _agent_override(run: _Run) -> None:
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
        _pin(run, override.model, f"agent override #{override.window.id}", "agent_override")


def _preferences(run: _Run) -> None:
    """Bonus points for the models the agent (or seed 003's task table) prefers."""
    assert run.strategy is not None
    agent, budget = run.agent, run.budget
    if agent is not None and agent.named_models:
        prefer_local = run.strategy.prefer_local or run.local_only
        ranks = {
            agent.primary: 3.0,
            agent.fallback: 2.0,
            agent.local_alternative: 3.5 if prefer_local else 2.0,
        }
        if agent.budget_mode and budget is not None and budget.budget_mode:
            ranks[agent.budget_mode] = 4.0
        run.bonus = {k: v for k, v in ranks.items() if k}
        run.step("preferences", "agent", **{k: v for k, v in run.bonus.items()})
        return
    task_type, level = run.value("task_type"), run.value("complexity_level")
    band = COMPLEXITY_BAND[level]
    if task_type == "summarization":
        band = "long" if run.value("estimated_tokens") > LONG_CONTEXT_TOKENS else "short"
    targets = run.snapshot.task_routes.get((task_type, band)) or run.snapshot.task_routes.get(
        (task_type, "all")
    )
    if not targets:
        run.step("preferences", "none", task_type=task_type, band=band)
        return
    for position, (provider, model) in enumerate(targets):
        key = model or run.snapshot.provider_default_models.get(provider)
        points = 3.0 - position * 0.5
        if key:
            run.bonus.setdefault(key, points)
        for other in run.snapshot.models.values():  # the provider's other models, a little less
            if model is None and other.provider == provider:
                run.bonus.setdefault(other.key, points - 0.25)
    run.step(
        "preferences",
        "task table",
        task_type=task_type,
        band=band,
        targets=[p + (f":{m}" if m else "") for p, m in targets],
    )


def _capabilities(run: _Run) -> None:
    if run.agent is None or not run.agent.capabilities_required:
        return
    required = run.agent.capabilities_required
    # Models an operator named (agent preferences, a pin, an experiment arm) are trusted.
    arms = {m for e in run.snapshot.experiments if e.agent == run.agent.key for m, _ in e.variants}
    named = set(run.agent.named_models) | {run.pinned} | arms
    for key, model in list(run.eligible.items()):
        if key not in named and not required <= model.capabilities:
            run.drop(
                key,
                "capabilities",
                "lacks required capabilities",
                missing=sorted(required - model.capabilities),
            )


def _partition(run: _Run, model: ModelInfo) -> int:
    """0 sorts first. The strategy decides whether local or cloud models lead."""
    s = run.strategy
    assert s is not None
    level, score = run.value("complexity_level"), run.value("complexity_score")
    local_first = 0 if model.is_local else 1
    cloud_first = 1 - local_first
    if s.prefer_local:
        if s.complexity_threshold is not None and score >= s.complexity_threshold:
            return 0  # hard enough to let cloud models compete on score
        return local_first
    if s.prefer_cloud:
        return cloud_first
    if s.cloud_for_complex_tasks and level in ("complex", "critical"):
        return cloud_first
    if (
        s.local_for_routine_tasks
        and level in ("simple", "moderate")
        and run.value("classification") != "critical"
    ):
        return local_first
    return 0


def _order(run: _Run) -> list[Candidate]:
    assert run.strategy is not None
    weights = run.strategy.weights or run.snapshot.factor_weights
    costs = {k: run.cost(m) for k, m in run.eligible.items()}
    known = [c for c in costs.values() if c is not None]
    speeds = [m.tokens_per_second for m in run.eligible.values() if m.tokens_per_second]
    ctx = ScoringContext(
        complexity_score=run.value("complexity_score"),
        privacy_level=run.value("privacy_level"),
        max_cost=max(known, default=0.0),
        max_tokens_per_second=max(speeds, default=0.0),
        rate_usage=run.state.rate_usage,
    )
    simple = run.value("complexity_level") == "simple"
    scored = []
    for key, model in run.eligible.items():
        factors = factor_scores(model, costs[key], ctx)
        score = weighted(factors, weights)
        cost = costs[key]
        cost_sort = float("inf") if cost is None else cost
        # Seed 000: for simple tasks, the smallest capable and cheapest model first.
        within = (cost_sort, strength(model), -score) if simple else (-score, cost_sort, 0.0)
        # A model near its rate limit gives way even when pinned (rate_limit_protection).
        sort_key = (
            key in run.demoted,
            key != run.pinned,
            _partition(run, model),
            -run.bonus.get(key, 0.0),
            *within,
            key,
        )
        if key == run.pinned:
            why = run.pinned_why
        elif key in run.bonus:
            why = "preferred by " + (
                "agent" if run.agent and run.agent.named_models else "task table"
            )
        else:
            why = f"strategy {run.strategy.key} score"
        scored.append(
            (sort_key, Candidate(key, model.provider, model.type, score, factors, cost, why))
        )
    scored.sort(key=lambda item: item[0])
    return [c for _, c in scored]


def _experiment(run: _Run, ordered: list[Candidate]) -> list[Candidate]:
    if run.agent is None or run.pinned is not None:
        return ordered
    experiment = next((e for e in run.snapshot.experiments if e.agent == run.agent.key), None)
    if experiment is None:
        return ordered
    sticky = run.request.session_id if experiment.sticky_by == "session" else run.request.task_id
    sticky = sticky or run.request.task_id or run.request.session_id or run.request.text
    digest = hashlib.sha256(f"{experiment.key}:{sticky}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(w for _, w in experiment.variants)
    chosen = experiment.variants[-1][0]
    for model, weight in experiment.variants:
        if point < weight:
            chosen = model
            break
        point -= weight
    position = next((i for i, c in enumerate(ordered) if c.model == chosen), None)
    if position is None:
        run.step("experiment", "variant not eligible", experiment=experiment.key, model=chosen)
        return ordered
    candidate = ordered.pop(position)
    run.step(
        "experiment",
        "variant",
        experiment=experiment.key,
        model=chosen,
        sticky_by=experiment.sticky_by,
    )
    return [
        Candidate(
            candidate.model,
            candidate.provider,
            candidate.type,
            candidate.score,
            candidate.factors,
            candidate.estimated_cost_usd,
            f"A/B experiment {experiment.key}",
        ),
        *ordered,
    ]


def _refusal_for_empty(run: _Run) -> Refusal:
    budget_losses = [e for e in run.eliminated if e.step == "budgets"]
    if budget_losses and run.budget is not None and run.budget.exhausted:
        scope = run.budget.exhausted[0]
        return Refusal(
            "budget_exceeded",
            BUDGET_EXCEEDED.format(**scope),
            {"budget": scope, "eliminated": [e.model for e in budget_losses]},
        )
    reasons = sorted({e.reason for e in run.eliminated})
    why = "; ".join(reasons) or "the registry has no models"
    if run.local_only:
        why = f"only local models may serve ({'; '.join(run.local_only_why)}) and none is available"
    return Refusal("no_eligible_model", NO_ELIGIBLE_MODEL.format(why=why), {"reasons": reasons})


def decide(
    request: RouteRequest, snapshot: Snapshot, state: RuntimeState, *, now: datetime
) -> Decision:
    run = _Run(request=request, snapshot=snapshot, state=state, now=now)
    if request.agent is not None:
        run.agent = snapshot.agents.get(request.agent)
    _extract_features(run)
    _resolve_strategy(run)
    if request.agent is not None and run.agent is None:
        run.refusal = Refusal(
            "unknown_agent", UNKNOWN_AGENT.format(agent=request.agent), {"agent": request.agent}
        )
    else:
        _availability(run)
        _task_override(run)
        _privacy(run)
        _budgets(run)
        _rules(run, snapshot.global_rules, "global_rules", first_match_wins=False)
        if run.refusal is None and run.agent is not None:
            _rules(run, run.agent.rules, "agent_rules", first_match_wins=True)
        if run.refusal is None:
            _agent_override(run)
            _capabilities(run)
            _preferences(run)
    chain: list[Candidate] = []
    if run.refusal is None:
        chain = _experiment(run, _order(run))
        for dropped in chain[MAX_CHAIN:]:
            run.eliminated.append(
                Elimination(dropped.model, "chain", f"ranked below the top {MAX_CHAIN}")
            )
        chain = chain[:MAX_CHAIN]
        run.step("chain", "ordered" if chain else "empty", chain=[c.model for c in chain])
        if not chain:
            run.refusal = _refusal_for_empty(run)
    flags = _flags(run, chain)
    if run.budget is not None and run.budget.session_level == CRITICAL:
        run.warning_level = CRITICAL
    return Decision(
        config_version=snapshot.version,
        features=run.features,
        pii_types=run.pii_types,
        strategy=run.strategy.key if run.strategy else FALLBACK_STRATEGY,
        strategy_source=run.strategy_source,
        chain=tuple(chain),
        eliminated=tuple(run.eliminated),
        rule=run.rule,
        warning_level=run.warning_level,
        flags=flags,
        trace=tuple(run.trace),
        errors=tuple(run.errors),
        refusal=run.refusal,
    )


def _flags(run: _Run, chain: list[Candidate]) -> Flags:
    strategy = run.strategy
    verify = None
    if (
        chain
        and chain[0].type == "local"
        and (chain[0].model in run.verify_models or "*" in run.verify_models)
    ):
        if run.local_only:
            run.step("verification", "impossible", why="only local models may be used")
        else:
            cloud = next((c.model for c in chain[1:] if c.type == "cloud"), None)
            if cloud is None:
                cloud = next((k for k, m in run.eligible.items() if not m.is_local), None)
            verify = cloud
            run.step(
                "verification", "required" if cloud else "no cloud model available", model=cloud
            )
    return Flags(
        local_only=run.local_only,
        verify_with_cloud=verify,
        hedge=bool(strategy and strategy.parallel_requests and len(chain) > 1),
        cache_allowed=bool(strategy and strategy.cache_responses),
    )
