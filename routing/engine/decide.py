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
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from routing.engine import features as feat
from routing.engine.budgets import evaluate_budgets
from routing.engine.inputs import RouteRequest, RuntimeState, Snapshot, StrategyInfo
from routing.engine.ordering import apply_experiment, capabilities, order, preferences
from routing.engine.pii import scan_pii
from routing.engine.result import (
    CRITICAL,
    Candidate,
    Decision,
    Elimination,
    FeatureValue,
    Flags,
    Refusal,
    worse,
)
from routing.engine.rules import agent_override, pin, run_rules
from routing.engine.run import (
    BUDGET_EXCEEDED,
    DEFAULT_COMPLETION_TOKENS,
    FALLBACK_STRATEGY,
    MAX_CHAIN,
    NO_ELIGIBLE_MODEL,
    UNKNOWN_AGENT,
    Run,
    make_local_only,
)


def _feature(given: Any, inferred: Any, default_source: str = "inferred") -> FeatureValue:
    return (
        FeatureValue(given, "given")
        if given is not None
        else FeatureValue(inferred, default_source)
    )


def _extract_features(run: Run) -> None:
    req = run.request
    if req.features is not None:
        _replay_features(run, req.features)
        return
    tokens = feat.estimate_tokens(req.text)
    asked = req.task_text if req.task_text is not None else req.text
    complexity, source = None, "inferred"
    if req.complexity is not None:
        try:
            complexity, source = feat.complexity_from_given(req.complexity), "given"
        except ValueError as exc:  # the APIs refuse such values; a replay or a script may not
            run.errors.append(f"complexity {req.complexity!r} ignored: {exc}")
    if complexity is None:
        complexity = feat.classify_complexity(asked, feat.estimate_tokens(asked))
    given_type = (req.task_type or "").strip()
    task_type = feat.normalize_task_type(given_type) if given_type else feat.infer_task_type(asked)
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
        "task_type": FeatureValue(task_type, "given" if given_type else "inferred"),
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
        # Identifies the prompt without keeping it: experiments stick to it when the
        # caller gives no session or task id, and a replay (which has no prompt) can too.
        "fingerprint": FeatureValue(
            hashlib.sha256(req.text.encode("utf-8", "surrogatepass")).hexdigest()[:16], "inferred"
        ),
    }
    _features_done(run)


def _replay_features(run: Run, stored: Mapping[str, Any]) -> None:
    run.features = {name: FeatureValue(f["value"], f["source"]) for name, f in stored.items()}
    run.pii_types = tuple(sorted(run.features["pii"].value))
    _features_done(run)


def _features_done(run: Run) -> None:
    run.completion_tokens = run.request.max_tokens or DEFAULT_COMPLETION_TOKENS
    run.step(
        "features",
        "computed",
        **{k: v.value for k, v in run.features.items() if k != "complexity_reasons"},
    )


def _resolve_strategy(run: Run) -> None:
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


def _availability(run: Run) -> None:
    """Models that cannot serve anyone right now: disabled, cooling down, unhealthy, or
    with a context window too small for this prompt."""
    needed = run.value("estimated_tokens") + run.completion_tokens
    cooling_down, unhealthy = run.state.cooling_down, run.state.unhealthy
    run.eligible.update(run.snapshot.models)
    for key, model in run.snapshot.models.items():
        until = cooling_down.get(key)
        if not model.enabled:
            run.drop(key, "availability", "disabled")
        elif key in unhealthy:
            run.drop(key, "availability", "unhealthy (failed its health probe)")
        elif until is not None and until > run.now:
            run.drop(key, "availability", "cooling down", until=until.isoformat())
        elif model.context_window is not None and model.context_window < needed:
            run.drop(
                key,
                "availability",
                "context window too small",
                context_window=model.context_window,
                needed_tokens=needed,
            )
    run.step("availability", f"{len(run.eligible)} of {len(run.snapshot.models)} models available")


def _task_override(run: Run) -> None:
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


def _embedding_models(run: Run) -> None:
    """An embedding request needs a model that embeds (a chat model cannot)."""
    if run.value("task_type") != "embedding":
        return
    for key, model in list(run.eligible.items()):
        if "embedding" not in model.capabilities:
            run.drop(key, "capabilities", "does not compute embeddings")


def _requested_model(run: Run) -> None:
    model = run.request.model
    if model is None or run.pinned is not None:
        return
    run.step("requested_model", "asked", model=model)
    pin(run, model, "requested by the caller", "requested_model")


def _privacy(run: Run) -> None:
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
    if run.value("task_type") == "embedding":
        why.append("embeddings are always computed locally (seed 003)")
    if snap.environment and snap.environment.force_local_models:
        why.append(f"environment {snap.environment.name} forces local models")
    if why:
        make_local_only(run, "privacy", "; ".join(why))
    else:
        run.step("privacy", "cloud allowed")


def _budgets(run: Run) -> None:
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
        make_local_only(run, "budgets", verdict.local_only_why)
    run.step("budgets", verdict.warning_level, **verdict.summary)


def _refusal_for_empty(run: Run) -> Refusal:
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
    run = Run(request=request, snapshot=snapshot, state=state, now=now)
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
        _embedding_models(run)
        _requested_model(run)
        _budgets(run)
        run_rules(run, snapshot.global_rules, "global_rules", first_match_wins=False)
        if run.refusal is None and run.agent is not None:
            run_rules(run, run.agent.rules, "agent_rules", first_match_wins=True)
        if run.refusal is None:
            agent_override(run)
            capabilities(run)
            preferences(run)
    chain: list[Candidate] = []
    if run.refusal is None:
        chain = apply_experiment(run, order(run))
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


def _flags(run: Run, chain: list[Candidate]) -> Flags:
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
