"""Steps g and h: who the agent (or seed 003's task table) prefers, required
capabilities, the strategy's ordering by weighted factors, and A/B experiments."""

from __future__ import annotations

import hashlib

from routing.engine.prepared import prepared
from routing.engine.result import Candidate, Elimination
from routing.engine.run import COMPLEXITY_BAND, LONG_CONTEXT_TOKENS, Run
from routing.engine.scoring import Scorer, strength


def preferences(run: Run) -> None:
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


def capabilities(run: Run) -> None:
    if run.agent is None or not run.agent.capabilities_required:
        return
    # Models an operator named (agent preferences, a pin, an experiment arm) are trusted.
    arms = {m for e in run.snapshot.experiments if e.agent == run.agent.key for m, _ in e.variants}
    named = set(run.agent.named_models) | {run.pinned} | arms
    # Often a third of the registry lacks something; what each model lacks is worked out
    # once per configuration version, and drop() is inlined.
    lacking = prepared(run.snapshot).lacking(run.agent)
    eligible, eliminated = run.eligible, run.eliminated
    for key in [k for k in eligible if k in lacking and k not in named]:
        del eligible[key]
        eliminated.append(
            Elimination(
                key, "capabilities", "lacks required capabilities", {"missing": list(lacking[key])}
            )
        )


def partition(run: Run, is_local: bool) -> int:
    """0 sorts first. The strategy decides whether local or cloud models lead."""
    s = run.strategy
    assert s is not None
    level, score = run.value("complexity_level"), run.value("complexity_score")
    local_first = 0 if is_local else 1
    cloud_first = 1 - local_first
    if s.prefer_local:
        if s.complexity_threshold is not None and score >= s.complexity_threshold:
            return 0  # hard enough to let cloud models compete on score
        return local_first
    if s.prefer_cloud:
        return cloud_first
    # Seed 004: a critical task (by complexity or by classification) goes to the cloud.
    if s.cloud_for_complex_tasks and (level in ("complex", "critical") or run.value("critical")):
        return cloud_first
    if (
        s.local_for_routine_tasks
        and level in ("simple", "moderate")
        and run.value("classification") != "critical"
    ):
        return local_first
    return 0


def order(run: Run) -> list[Candidate]:
    assert run.strategy is not None
    costs = {k: run.cost(m) for k, m in run.eligible.items()}
    known = [c for c in costs.values() if c is not None]
    speeds = [m.tokens_per_second for m in run.eligible.values() if m.tokens_per_second]
    complexity_score, privacy_level = run.value("complexity_score"), run.value("privacy_level")
    simple = run.value("complexity_level") == "simple"
    if not run.eligible:
        return []
    # The same for every model of this run: worked out once, not per candidate.
    scorer = Scorer(
        complexity_score=complexity_score,
        privacy_level=privacy_level,
        max_cost=max(known, default=0.0),
        max_tokens_per_second=max(speeds, default=0.0),
        rate_usage=run.state.rate_usage,
        weights=run.strategy.weights or run.snapshot.factor_weights,
    )
    partitions = (partition(run, False), partition(run, True))  # indexed by is_local
    preferred = "preferred by " + (
        "agent" if run.agent and run.agent.named_models else "task table"
    )
    by_score = f"strategy {run.strategy.key} score"
    scored = []
    for key, model in run.eligible.items():
        factors = scorer.factors(model, costs[key])
        score = scorer.score(factors)
        cost = costs[key]
        cost_sort = float("inf") if cost is None else cost
        # Seed 000: for simple tasks, the smallest capable and cheapest model first.
        within = (cost_sort, strength(model), -score) if simple else (-score, cost_sort, 0.0)
        # A model near its rate limit gives way even when pinned (rate_limit_protection).
        sort_key = (
            key in run.demoted,
            key != run.pinned,
            partitions[model.is_local],
            -run.bonus.get(key, 0.0),
            *within,
            key,
        )
        if key == run.pinned:
            why = run.pinned_why
        elif key in run.bonus:
            why = preferred
        else:
            why = by_score
        scored.append(
            (sort_key, Candidate(key, model.provider, model.type, score, factors, cost, why))
        )
    scored.sort(key=lambda item: item[0])
    return [c for _, c in scored]


def apply_experiment(run: Run, ordered: list[Candidate]) -> list[Candidate]:
    if run.agent is None or run.pinned is not None:
        return ordered
    experiment = next((e for e in run.snapshot.experiments if e.agent == run.agent.key), None)
    if experiment is None:
        return ordered
    sticky = run.request.session_id if experiment.sticky_by == "session" else run.request.task_id
    sticky = sticky or run.request.task_id or run.request.session_id or run.value("fingerprint")
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
