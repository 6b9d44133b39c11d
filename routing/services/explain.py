"""Explain a stored decision: its whole trace in plain English, and as data.

`decision_explain(row, replayed=...)` is pure: it reads the Decision row (features,
trace steps, eliminations, attempts, verification, cost) and nothing else. A row keeps
only the chain's model names, so the chain's factor scores come from `replayed`, the
same decision re-run on its own configuration version (routing.services.simulate.
stored_rerun); they are shown only when that re-run gives back the stored chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from routing.engine import Decision as EngineDecision
from routing.models import Decision

FACTORS_REPLAYED = "replayed on configuration version {version}"
FACTORS_UNAVAILABLE = (
    "unavailable: the decision could not be re-run on its configuration version {version}"
)
RULE_STEPS = {"global_rules": "Global rules", "agent_rules": "Agent rules"}


def _value(features: Mapping[str, Any], name: str) -> Any:
    entry = features.get(name)
    return entry.get("value") if isinstance(entry, Mapping) else None


def _source(features: Mapping[str, Any], name: str) -> str:
    entry = features.get(name)
    return str(entry.get("source")) if isinstance(entry, Mapping) else "unknown"


def _usd(value: Decimal | float | None) -> str:
    return "unknown" if value is None else f"${float(value):.6f}"


def headline(row: Decision) -> str:
    if row.outcome == "success":
        return (
            f"Answered by {row.model_used} ({row.provider}) in {row.latency_ms} ms "
            f"with strategy {row.strategy}."
        )
    if row.outcome == "failed":
        return f"Every model in the chain failed ({row.error_code or 'no answer'})."
    if row.outcome == "refused":
        return f"Refused before any model was called ({row.error_code})."
    first = row.chain[0] if row.chain else "no model"
    return f"Dry run: {first} would have been tried first; nothing was called."


def feature_sentences(features: Mapping[str, Any]) -> list[str]:
    if not features:
        return []
    sentences = [
        f"The task was read as {_value(features, 'task_type')} ({_source(features, 'task_type')}), "
        f"complexity {_value(features, 'complexity_level')} "
        f"({_value(features, 'complexity_score')}/10, {_source(features, 'complexity_level')}), "
        f"classification {_value(features, 'classification')} "
        f"({_source(features, 'classification')}), privacy level "
        f"{_value(features, 'privacy_level')} ({_source(features, 'privacy_level')}), "
        f"about {_value(features, 'estimated_tokens')} prompt tokens."
    ]
    pii = _value(features, "pii") or {}
    if pii:
        found = ", ".join(f"{kind} ({count})" for kind, count in sorted(pii.items()))
        sentences.append(f"Personal data found: {found}.")
    else:
        sentences.append("No personal data was found.")
    return sentences


def _pin_sentence(label: str, outcome: str, d: Mapping[str, Any]) -> str | None:
    if outcome == "chose":
        return f"{label}: {d.get('why')} chose {d.get('model')}."
    if outcome == "not applied":
        return f"{label}: {d.get('model')} was not applied, {d.get('because')}."
    if outcome == "model not eligible":
        return f"{label}: {d.get('model')} was wanted but is not eligible ({d.get('why')})."
    return None


def _rule_sentence(label: str, outcome: str, d: Mapping[str, Any]) -> str:
    pinned = _pin_sentence(label, outcome, d)
    if pinned is not None:
        return pinned
    if outcome.endswith("fired"):
        fired = d.get("fired") or []
        return f"{label}: {', '.join(fired)} fired." if fired else f"{label}: none fired."
    if outcome == "local only":
        return f"{label}: {d.get('why')} made the request local-only."
    if outcome == "denied":
        return f"{label}: rule {d.get('rule')} denied the request."
    if outcome == "demoted":
        return f"{label}: rule {d.get('rule')} moved {d.get('model')} to the back of the chain."
    return _generic(label, outcome, d)


def _generic(label: str, outcome: str, d: Mapping[str, Any]) -> str:
    details = ", ".join(f"{k} {v}" for k, v in d.items())
    return f"{label}: {outcome}" + (f" ({details})." if details else ".")


def step_sentence(step: str, outcome: str, d: Mapping[str, Any]) -> str | None:
    """One trace step in words; None for steps said elsewhere (the features)."""
    if step == "features":
        return None
    if step in RULE_STEPS:
        return _rule_sentence(RULE_STEPS[step], outcome, d)
    if step == "strategy":
        return f"Strategy {outcome} was used ({d.get('source')})."
    if step == "availability":
        return f"Availability: {outcome}."
    if step == "task_override":
        if outcome == "forced":
            reason = d.get("reason") or "no reason given"
            return f"Task override #{d.get('override')} forced {d.get('model')} ({reason})."
        return f"No task override was in force for task {d.get('task_id')}."
    if step == "requested_model":
        return f"The caller asked for {d.get('model')}."
    if step == "privacy":
        if outcome == "local only":
            return f"Privacy: only local models may serve ({d.get('why')})."
        return "Privacy: cloud models were allowed."
    if step == "budgets":
        text = (
            f"Budgets: warning level {outcome}; the session had used "
            f"{d.get('session_tokens', 0)} tokens ({d.get('session_level', 'normal')})."
        )
        blocked = d.get("blocked") or []
        return text + (f" Blocked by budgets: {', '.join(blocked)}." if blocked else "")
    if step == "agent_override":
        return _pin_sentence("Agent override", outcome, d) or _generic("Agent override", outcome, d)
    if step == "preferences":
        if outcome == "agent":
            ranked = ", ".join(f"{m} (+{p:g})" for m, p in d.items())
            return f"Preferences: the agent prefers {ranked}."
        if outcome == "task table":
            targets = ", ".join(d.get("targets") or [])
            return (
                f"Preferences: the task table for {d.get('task_type')} / {d.get('band')} "
                f"lists {targets}."
            )
        return f"Preferences: none for {d.get('task_type')} / {d.get('band')}."
    if step == "experiment":
        if outcome == "variant":
            return (
                f"A/B experiment {d.get('experiment')} put {d.get('model')} first "
                f"(sticky by {d.get('sticky_by')})."
            )
        return (
            f"A/B experiment {d.get('experiment')} chose {d.get('model')}, which is not eligible."
        )
    if step == "chain":
        chain = d.get("chain") or []
        return f"Chain: {' -> '.join(chain)}." if chain else "No model was left to form a chain."
    if step == "verification":
        if outcome == "required":
            return f"Verification: {d.get('model')} (cloud) will check a local answer."
        if outcome == "impossible":
            return f"Verification: impossible, {d.get('why')}."
        return "Verification: wanted, but no cloud model was available."
    return _generic(step.replace("_", " ").capitalize(), outcome, d)


def trace_sentences(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """The trace in words. A per-model rule leaves one step per model; consecutive ones
    of the same rule are said once, with the models listed."""
    sentences: list[str] = []
    i = 0
    while i < len(steps):
        s = steps[i]
        detail = s.get("detail") or {}
        if s["outcome"] in ("verification required", "demoted") and s["step"] in RULE_STEPS:
            models = [detail.get("model")]
            while (
                i + 1 < len(steps)
                and steps[i + 1]["step"] == s["step"]
                and steps[i + 1]["outcome"] == s["outcome"]
                and (steps[i + 1].get("detail") or {}).get("rule") == detail.get("rule")
            ):
                i += 1
                models.append(steps[i]["detail"].get("model"))
            label, listed = RULE_STEPS[s["step"]], ", ".join(str(m) for m in models)
            if s["outcome"] == "demoted":
                sentences.append(
                    f"{label}: rule {detail.get('rule')} moved {listed} to the back of the chain."
                )
            else:
                sentences.append(
                    f"{label}: rule {detail.get('rule')} requires a cloud check of an answer "
                    f"from {listed}."
                )
        else:
            sentence = step_sentence(s["step"], s["outcome"], detail)
            if sentence is not None:
                sentences.append(sentence)
        i += 1
    return sentences


def elimination_sentence(eliminated: Iterable[Mapping[str, Any]]) -> str:
    by_step: dict[str, list[Mapping[str, Any]]] = {}
    for e in eliminated:
        by_step.setdefault(e["step"], []).append(e)
    if not by_step:
        return "No model was eliminated."
    parts = []
    for step, items in by_step.items():
        reasons = list(dict.fromkeys(e["reason"] for e in items))
        more = f"; and {len(reasons) - 2} other reasons" if len(reasons) > 2 else ""
        parts.append(f"{len(items)} at {step} ({'; '.join(reasons[:2])}{more})")
    total = sum(len(items) for items in by_step.values())
    return f"Eliminated {total} model{'s' if total != 1 else ''}: {', '.join(parts)}."


def attempt_sentences(attempts: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        f"Attempt {n}: {a.get('model')} {a.get('outcome')}"
        + (f", {a['reason']}" if a.get("reason") else "")
        + f" ({a.get('latency_ms', 0)} ms)."
        for n, a in enumerate(attempts, start=1)
    ]


def cost_sentence(row: Decision) -> str:
    if row.outcome in ("refused", "dry_run"):
        return "Nothing was called, so nothing was spent."
    estimated = " (estimated usage)" if row.usage_estimated else ""
    text = (
        f"Cost: {_usd(row.cost_usd)} for {row.prompt_tokens} prompt and "
        f"{row.completion_tokens} completion tokens{estimated}"
    )
    if row.fallback_tax_usd:
        text += f"; rejected answers cost {_usd(row.fallback_tax_usd)} more (fallback tax)"
    return text + "."


def _chain(row: Decision, replayed: EngineDecision | None) -> list[dict[str, Any]]:
    candidates = {}
    if replayed is not None and [c.model for c in replayed.chain] == list(row.chain):
        candidates = {c.model: c for c in replayed.chain}
    chain = []
    for position, model in enumerate(row.chain, start=1):
        c = candidates.get(model)
        chain.append(
            {
                "position": position,
                "model": model,
                "provider": c.provider if c else None,
                "type": c.type if c else None,
                "why": c.why if c else None,
                "score": c.score if c else None,
                "factors": dict(c.factors) if c else None,
                "estimated_cost_usd": c.estimated_cost_usd if c else None,
            }
        )
    return chain


def chain_sentences(chain: Sequence[Mapping[str, Any]]) -> list[str]:
    sentences = []
    for c in chain:
        if c["factors"] is None:
            continue
        factors = ", ".join(f"{name} {value:g}" for name, value in c["factors"].items())
        sentences.append(
            f"#{c['position']} {c['model']} ({c['type']}): {c['why']}; score {c['score']:g} "
            f"({factors}); estimated {_usd(c['estimated_cost_usd'])}."
        )
    return sentences


def decision_explain(row: Decision, *, replayed: EngineDecision | None = None) -> dict[str, Any]:
    trace: Mapping[str, Any] = row.trace if isinstance(row.trace, Mapping) else {}
    steps = trace.get("steps") or []
    eliminated = trace.get("eliminated") or []
    refusal = trace.get("refusal")
    verification = trace.get("verification")
    chain = _chain(row, replayed)
    reproduced = bool(chain) and chain[0]["factors"] is not None
    sentences = [headline(row), *feature_sentences(row.features or {}), *trace_sentences(steps)]
    sentences.append(elimination_sentence(eliminated))
    sentences += chain_sentences(chain)
    if refusal:
        sentences.append(f"Refused ({refusal['code']}): {refusal['message']}.")
    sentences.append(f"Warning level: {row.warning_level or 'normal'}.")
    sentences += attempt_sentences(row.attempts or [])
    if verification:
        reason = f": {verification['reason']}" if verification.get("reason") else ""
        sentences.append(
            f"Verification by {verification.get('model')}: {verification.get('verdict')}{reason}."
        )
    sentences.append(cost_sentence(row))
    sentences += [f"Note: {error}." for error in trace.get("errors") or []]
    version = row.config_version
    return {
        "decision_id": str(row.public_id),
        "created_at": row.created_at,
        "outcome": row.outcome,
        "error_code": row.error_code,
        "agent": row.agent_key or None,
        "task_id": row.task_id or None,
        "session_id": row.session_id or None,
        "api_key": row.api_key_name or None,
        "config_version": version,
        "sentences": sentences,
        "features": row.features,
        "pii_types": row.pii_types,
        "strategy": {
            "key": row.strategy,
            "source": trace.get("strategy_source", row.strategy_source),
        },
        "rule": row.rule or None,
        "local_only": row.local_only,
        "warning_level": row.warning_level,
        "chain": chain,
        "factors_source": (FACTORS_REPLAYED if reproduced else FACTORS_UNAVAILABLE).format(
            version=version
        )
        if chain
        else None,
        "eliminated": eliminated,
        "refusal": refusal,
        "attempts": row.attempts,
        "verification": verification,
        "cost": {
            "cost_usd": float(row.cost_usd),
            "fallback_tax_usd": float(row.fallback_tax_usd),
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "usage_estimated": row.usage_estimated,
            "latency_ms": row.latency_ms,
            "cached": row.cached,
        },
        "errors": trace.get("errors") or [],
        "flags": trace.get("flags"),
        "trace": steps,
        "raw": trace,
    }
