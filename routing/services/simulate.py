"""Replay and what-if: re-deciding stored decisions without writing any configuration.

- `decision_replay(row)` re-runs one stored decision twice: on the configuration
  version it was made with (which must reproduce it exactly) and on the current
  configuration (which shows what would differ).
- `traffic_simulate(draft, since, until)` re-decides every stored request of a time
  range on the current configuration with draft changes applied in memory, and
  reports what would move, what it would cost, privacy, refusals and fallbacks.

Both feed the engine the inputs each Decision row keeps (`trace["inputs"]`: the
caller's fields, the runtime state and the time) with its stored features, through
`routing.engine.replay.rerun`. Each request is re-decided at its own time; the
controls in force *now* (overrides, force-local) are treated as in force then, so
"the current configuration" includes a strategy override set a minute ago.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from routing.choices import DecisionOutcome
from routing.engine import Decision as EngineDecision
from routing.engine import build_snapshot
from routing.engine.replay import rerun
from routing.engine.run import DEFAULT_COMPLETION_TOKENS
from routing.models import Decision
from routing.services.config_revision import config_revision_current
from routing.snapshot import load_config_data, stored_snapshot

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
FOUND, MISSING = "found", "missing"
REJECTED_OUTCOMES = frozenset({"rejected", "invalid"})
# What re-running inputs stored in an older format can raise (a field renamed since).
STALE_INPUT_ERRORS = (KeyError, TypeError, ValueError)
# A window that started before any stored request: "in force now" becomes "in force then".
EARLIEST = "0001-01-01T00:00:00+00:00"
DIGEST_FIELDS = (
    "primary",
    "chain",
    "strategy",
    "strategy_source",
    "rule",
    "local_only",
    "warning_level",
    "estimated_cost_usd",
    "refusal",
)

MSG_UNKNOWN_STRATEGY = "Unknown strategy '{key}'."
MSG_UNKNOWN_MODEL = "Unknown model '{key}'."
MSG_UNKNOWN_AGENT = "Unknown agent '{key}'."
MSG_UNKNOWN_PROVIDER = "Unknown provider '{key}'."

SIMULATION_NOTES = (
    "Before is each stored decision; after is the same request re-decided at its own time "
    "on the current configuration with the draft applied (controls in force now count as "
    "in force then). Dry runs are not traffic and are skipped.",
    "Cost: the registry price of the primary model times the request's stored prompt and "
    "completion tokens (the decision's own estimate when it has no usage); before uses "
    "today's prices, after the draft's. A model without a price counts as $0 and is "
    "counted under cost.unpriced.",
    "Fallbacks: each model's share of rejected or invalid attempts in the stored traffic of "
    "the range; expected is the sum, over the re-decided requests, of their new primary's "
    "share. A new primary never attempted in the range is counted as untested.",
)


class NotReplayable(Exception):
    """The row keeps no inputs (it predates them), or keeps them in a format the engine
    no longer reads, so it cannot be re-decided."""


class DraftError(Exception):
    """Draft changes naming what does not exist; `fields` mirrors the request body."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.fields = fields


# -- the configuration as it stands now --------------------------------------------------


def _in_force(starts_at: str | None, expires_at: str | None, now: datetime) -> bool:
    starts = datetime.fromisoformat(starts_at) if starts_at else None
    expires = datetime.fromisoformat(expires_at) if expires_at else None
    return (starts is None or starts <= now) and (expires is None or now < expires)


def controls_as_of(data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """`data` with only the controls in force at `now`, each made to start at EARLIEST,
    so a request re-decided at its own (earlier) time sees exactly today's controls."""
    result = dict(data)
    for key in ("strategy_overrides", "agent_model_overrides", "task_overrides"):
        result[key] = [
            {**o, "starts_at": EARLIEST}
            for o in data.get(key) or []
            if _in_force(o["starts_at"], o.get("expires_at"), now)
        ]
    force = data.get("force_local")
    if force:
        on = bool(force.get("on")) and _in_force(None, force.get("expires_at"), now)
        result["force_local"] = {**force, "on": on}
    return result


def current_config_data(now: datetime) -> dict[str, Any]:
    return controls_as_of(load_config_data(config_revision_current()), now)


# -- one stored decision -------------------------------------------------------------------


def stored_inputs(row: Decision) -> Mapping[str, Any] | None:
    trace = row.trace if isinstance(row.trace, Mapping) else {}
    inputs = trace.get("inputs")
    return inputs if isinstance(inputs, Mapping) and "request" in inputs else None


def stored_rerun(row: Decision) -> EngineDecision | None:
    """The row's decision re-run on its own configuration version; None when the row
    keeps no inputs or that version's snapshot is gone."""
    inputs = stored_inputs(row)
    snapshot = None if inputs is None else stored_snapshot(row.config_version)
    if inputs is None or snapshot is None:
        return None
    try:
        return rerun(inputs, row.features, snapshot)
    except STALE_INPUT_ERRORS:
        return None


def _plain(value: Any) -> Any:
    """As the row's JSON columns give it back (tuples become lists, and so on)."""
    return json.loads(json.dumps(value))


def _as_stored(decision: EngineDecision) -> dict[str, Any]:
    data = _plain(decision.to_dict())
    return {
        "chain": [c["model"] for c in data["chain"]],
        "strategy": data["strategy"],
        "strategy_source": data["strategy_source"],
        "rule": (data["rule"] or "")[:200],
        "warning_level": data["warning_level"],
        "local_only": data["flags"]["local_only"],
        "pii_types": data["pii_types"],
        "flags": data["flags"],
        "refusal": data["refusal"],
        "eliminated": data["eliminated"],
        "steps": data["trace"],
        "errors": data["errors"],
    }


def _row_as_stored(row: Decision) -> dict[str, Any]:
    trace = row.trace
    return {
        "chain": row.chain,
        "strategy": row.strategy,
        "strategy_source": trace.get("strategy_source", row.strategy_source),
        "rule": row.rule,
        "warning_level": row.warning_level,
        "local_only": row.local_only,
        "pii_types": row.pii_types,
        "flags": trace.get("flags"),
        "refusal": trace.get("refusal"),
        "eliminated": trace.get("eliminated"),
        "steps": trace.get("steps"),
        "errors": trace.get("errors"),
    }


def reproduction_differences(row: Decision, replayed: EngineDecision) -> list[dict[str, Any]]:
    """Every stored part of the decision that the re-run did not give back identically."""
    stored, again = _row_as_stored(row), _as_stored(replayed)
    return [
        {"field": name, "stored": stored[name], "replayed": again[name]}
        for name in stored
        if stored[name] != again[name]
    ]


def digest(decision: EngineDecision) -> dict[str, Any]:
    """What an operator compares between two decisions of one request."""
    return {
        "primary": decision.primary.model if decision.primary else None,
        "chain": [c.model for c in decision.chain],
        "strategy": decision.strategy,
        "strategy_source": decision.strategy_source,
        "rule": (decision.rule or "")[:200] or None,  # as long as a row keeps it
        "local_only": decision.flags.local_only,
        "warning_level": decision.warning_level,
        "estimated_cost_usd": decision.estimated_cost_usd,
        "refusal": decision.refusal.code if decision.refusal else None,
    }


def row_digest(row: Decision, estimated_cost_usd: float | None = None) -> dict[str, Any]:
    refusal = (row.trace or {}).get("refusal")
    return {
        "primary": row.chain[0] if row.chain else None,
        "chain": list(row.chain),
        "strategy": row.strategy,
        "strategy_source": (row.trace or {}).get("strategy_source", row.strategy_source),
        "rule": row.rule or None,
        "local_only": row.local_only,
        "warning_level": row.warning_level,
        "estimated_cost_usd": estimated_cost_usd,
        "refusal": refusal["code"] if refusal else None,
    }


def _replay_summary(
    reproduced: bool | None, version: int, current_version: int, changes: Mapping[str, Any]
) -> str:
    if reproduced is None:
        first = (
            f"The configuration of version {version} is no longer stored, so the decision "
            "could not be reproduced."
        )
    elif reproduced:
        first = f"Reproduced exactly on its own configuration (version {version})."
    else:
        first = f"NOT reproduced on its own configuration (version {version}); see differences."
    if not changes:
        return (
            f"{first} The current configuration (version {current_version}) would decide the same."
        )
    parts = [
        f"{name} {change['stored']!r} -> {change['current']!r}" for name, change in changes.items()
    ]
    return f"{first} On the current configuration (version {current_version}): {'; '.join(parts)}."


def decision_replay(row: Decision, *, now: datetime) -> dict[str, Any]:
    inputs = stored_inputs(row)
    if inputs is None:
        raise NotReplayable(str(row.public_id))
    snapshot = stored_snapshot(row.config_version)
    current_version = config_revision_current()
    try:
        replayed = None if snapshot is None else rerun(inputs, row.features, snapshot)
        current = rerun(inputs, row.features, build_snapshot(current_config_data(now)))
    except STALE_INPUT_ERRORS as exc:
        raise NotReplayable(str(row.public_id)) from exc
    differences = [] if replayed is None else reproduction_differences(row, replayed)
    reproduced = None if replayed is None else not differences
    before = row_digest(row, replayed.estimated_cost_usd if replayed and reproduced else None)
    after = digest(current)
    changes = {
        name: {"stored": before[name], "current": after[name]}
        for name in DIGEST_FIELDS
        if before[name] != after[name]
        and not (name == "estimated_cost_usd" and before[name] is None)
    }
    return {
        "decision_id": str(row.public_id),
        "stored_config_version": row.config_version,
        "stored_config": MISSING if snapshot is None else FOUND,
        "reproduced": reproduced,
        "differences": differences,
        "current_config_version": current_version,
        "current_as_of": now.isoformat(),
        "stored": before,
        "current": after,
        "would_differ": changes,
        "changed": bool(changes),
        "summary": _replay_summary(reproduced, row.config_version, current_version, changes),
    }


# -- draft changes, applied in memory ---------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """Changes to try, never written: a strategy to force, rules to add or replace, model
    fields to change, budgets to add, replace or (enabled false) remove."""

    strategy: str | None = None
    rules: Sequence[Mapping[str, Any]] = ()
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    budgets: Sequence[Mapping[str, Any]] = ()

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "rules": len(self.rules),
            "models": sorted(self.models),
            "budgets": len(self.budgets),
        }


def _check_references(data: Mapping[str, Any], draft: Draft) -> None:
    strategies = {s["key"] for s in data.get("strategies", [])}
    models = {m["key"] for m in data.get("models", [])}
    providers = {m["provider"] for m in data.get("models", [])}
    agents = {a["key"] for a in data.get("agents", [])}
    fields: dict[str, Any] = {}
    if draft.strategy is not None and draft.strategy not in strategies:
        fields["strategy"] = [MSG_UNKNOWN_STRATEGY.format(key=draft.strategy)]
    changes: dict[str, Any] = {}
    rule_errors: dict[str, Any] = {}
    for i, rule in enumerate(draft.rules):
        problems: dict[str, list[str]] = {}
        if rule.get("agent") and rule["agent"] not in agents:
            problems["agent"] = [MSG_UNKNOWN_AGENT.format(key=rule["agent"])]
        if rule.get("model") and rule["model"] not in models:
            problems["model"] = [MSG_UNKNOWN_MODEL.format(key=rule["model"])]
        if problems:
            rule_errors[str(i)] = problems
    if rule_errors:
        changes["rules"] = rule_errors
    unknown_models = {k: [MSG_UNKNOWN_MODEL.format(key=k)] for k in draft.models if k not in models}
    if unknown_models:
        changes["models"] = unknown_models
    targets = {
        "agent": (agents, MSG_UNKNOWN_AGENT),
        "provider": (providers, MSG_UNKNOWN_PROVIDER),
        "model": (models, MSG_UNKNOWN_MODEL),
    }
    budget_errors = {}
    for i, budget in enumerate(draft.budgets):
        known, message = targets.get(budget["scope"], (None, ""))
        if known is not None and budget.get("target") not in known:
            budget_errors[str(i)] = {"target": [message.format(key=budget.get("target"))]}
    if budget_errors:
        changes["budgets"] = budget_errors
    if changes:
        fields["changes"] = changes
    if fields:
        raise DraftError(fields)


def _apply_rules(rules: list[dict[str, Any]], drafts: Sequence[Mapping[str, Any]]) -> None:
    """A named draft replaces the rule of the same scope and agent with that name; an
    unnamed one with a position replaces the rule at that position. Anything else is
    added: at its position, or after the last rule of its scope and agent."""
    for draft in drafts:
        scope, agent, name = draft.get("scope", "global"), draft.get("agent"), draft.get("name", "")
        peers = [r for r in rules if r["scope"] == scope and r.get("agent") == agent]
        position = draft.get("position")
        if name:
            target = next((r for r in peers if r.get("name") == name), None)
        elif position is not None:
            target = next((r for r in peers if r["position"] == position), None)
        else:
            target = None
        if position is None:
            last = max((r["position"] for r in peers), default=-1)
            position = target["position"] if target is not None else last + 1
        new = {
            "scope": scope,
            "agent": agent,
            "name": name,
            "position": position,
            "condition": draft["condition"],
            "action": draft["action"],
            "model": draft.get("model"),
            "enabled": draft.get("enabled", True),
        }
        if target is not None:
            rules[rules.index(target)] = new
        else:
            rules.append(new)


def _apply_budgets(budgets: list[dict[str, Any]], drafts: Sequence[Mapping[str, Any]]) -> None:
    for draft in drafts:
        ident = (draft["scope"], draft.get("target", ""), draft.get("period", "day"))
        budgets[:] = [b for b in budgets if (b["scope"], b.get("target", ""), b["period"]) != ident]
        if draft.get("enabled", True):
            budgets.append(
                {
                    "scope": ident[0],
                    "target": ident[1],
                    "period": ident[2],
                    "limit_usd": draft.get("limit_usd"),
                    "per_request_usd": draft.get("per_request_usd"),
                    "warning_threshold": draft.get("warning_threshold", 0.8),
                }
            )


def draft_apply(data: Mapping[str, Any], draft: Draft) -> dict[str, Any]:
    """A copy of configuration `data` with `draft` applied. Pure; raises DraftError."""
    _check_references(data, draft)
    result: dict[str, Any] = json.loads(json.dumps(data))  # a deep copy of plain data
    if draft.strategy is not None:
        result["default_strategy"] = draft.strategy
        result["strategy_overrides"] = []
        if result.get("environment"):
            result["environment"]["default_strategy"] = None
    _apply_rules(result.setdefault("rules", []), draft.rules)
    for model in result.get("models", []):
        model.update(draft.models.get(model["key"], {}))
    _apply_budgets(result.setdefault("budgets", []), draft.budgets)
    return result


# -- a time range of stored traffic, re-decided ---------------------------------------------

Prices = dict[str, tuple[float | None, float | None, str]]  # key -> (in, out, type)


def _prices(data: Mapping[str, Any]) -> Prices:
    return {
        m["key"]: (m.get("cost_input_per_1k"), m.get("cost_output_per_1k"), m["type"])
        for m in data.get("models", [])
    }


def _cost(prices: Prices, model: str | None, prompt: int, completion: int) -> Decimal | None:
    """Registry price times tokens, in exact decimals; None when the price is unknown."""
    if model is None:
        return Decimal(0)
    price = prices.get(model)
    if price is None or price[0] is None or price[1] is None:
        return None
    return (Decimal(str(price[0])) * prompt + Decimal(str(price[1])) * completion) / 1000


def _rules_fired(steps: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """The rules that fired, from (step, detail) pairs of a trace."""
    return [
        name
        for step, detail in steps
        if step in ("global_rules", "agent_rules")
        for name in (detail or {}).get("fired", [])
    ]


def _is_cloud(prices: Prices, model: str | None) -> bool:
    return model is not None and model in prices and prices[model][2] == "cloud"


def _usd(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.00000001")))


@dataclass
class _Tally:
    """Counters over the re-decided requests; one row at a time, nothing kept per row."""

    old_prices: Prices
    new_prices: Prices
    considered: int = 0
    re_decided: int = 0
    skipped: int = 0
    moves: Counter[tuple[str | None, str | None]] = field(default_factory=Counter)
    cost_before: Decimal = Decimal(0)
    cost_after: Decimal = Decimal(0)
    unpriced_before: int = 0
    unpriced_after: int = 0
    tokens_estimated: int = 0
    pii_requests: int = 0
    local_before: int = 0
    local_after: int = 0
    pii_cloud_before: int = 0
    pii_cloud_after: int = 0
    rules_before: Counter[str] = field(default_factory=Counter)
    rules_after: Counter[str] = field(default_factory=Counter)
    refusals_before: Counter[str] = field(default_factory=Counter)
    refusals_after: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    new_primaries: Counter[str] = field(default_factory=Counter)
    versions: set[int] = field(default_factory=set)

    def _tokens(self, row: Decision, inputs: Mapping[str, Any]) -> tuple[int, int, bool]:
        if row.prompt_tokens or row.completion_tokens:
            return row.prompt_tokens, row.completion_tokens, False
        estimate = (row.features.get("estimated_tokens") or {}).get("value") or 0
        completion = inputs["request"].get("max_tokens") or DEFAULT_COMPLETION_TOKENS
        return int(estimate), int(completion), True

    def _add_cost(self, old: str | None, new: str | None, prompt: int, completion: int) -> None:
        before = _cost(self.old_prices, old, prompt, completion)
        after = _cost(self.new_prices, new, prompt, completion)
        self.unpriced_before += before is None
        self.unpriced_after += after is None
        self.cost_before += before or 0
        self.cost_after += after or 0

    def add(self, row: Decision, inputs: Mapping[str, Any], new: EngineDecision) -> None:
        self.re_decided += 1
        self.versions.add(row.config_version)
        old = row.chain[0] if row.chain else None
        primary = new.primary.model if new.primary else None
        self.moves[(old, primary)] += 1
        prompt, completion, estimated = self._tokens(row, inputs)
        if estimated and (old or primary):
            self.tokens_estimated += 1
        self._add_cost(old, primary, prompt, completion)
        if row.pii_types:
            self.pii_requests += 1
            self.pii_cloud_before += _is_cloud(self.old_prices, old)
            self.pii_cloud_after += new.primary is not None and new.primary.type == "cloud"
        self.local_before += row.local_only
        self.local_after += new.flags.local_only
        stored_steps = row.trace.get("steps") or []
        self.rules_before.update(_rules_fired([(s["step"], s.get("detail")) for s in stored_steps]))
        self.rules_after.update(_rules_fired([(s.step, s.detail) for s in new.trace]))
        refusal = row.trace.get("refusal")
        if refusal:
            self.refusals_before[refusal["code"]] += 1
        if new.refusal is not None:
            self.refusals_after[new.refusal.code] += 1
        for attempt in row.attempts or []:
            self.attempts[attempt["model"]] += 1
            self.rejected[attempt["model"]] += attempt.get("outcome") in REJECTED_OUTCOMES
        if primary is not None:
            self.new_primaries[primary] += 1

    def _fallbacks(self) -> dict[str, Any]:
        rates = {m: self.rejected[m] / n for m, n in self.attempts.items() if n}
        expected = sum(count * rates[m] for m, count in self.new_primaries.items() if m in rates)
        return {
            "expected": round(expected, 4),
            "expected_share": round(expected / self.re_decided, 4) if self.re_decided else 0.0,
            "requests_to_models_with_rejections": sum(
                c for m, c in self.new_primaries.items() if self.rejected[m]
            ),
            "requests_to_untested_models": sum(
                c for m, c in self.new_primaries.items() if m not in rates
            ),
            "by_model": {
                m: {
                    "requests": count,
                    "stored_attempts": self.attempts[m],
                    "stored_rejections": self.rejected[m],
                    "rejection_rate": round(rates[m], 4) if m in rates else None,
                }
                for m, count in sorted(self.new_primaries.items())
            },
        }

    def report(self) -> dict[str, Any]:
        moved = {k: v for k, v in self.moves.items() if k[0] != k[1]}
        return {
            "requests": {
                "considered": self.considered,
                "re_decided": self.re_decided,
                "skipped": self.skipped,
                "moved": sum(moved.values()),
                "unchanged": self.re_decided - sum(moved.values()),
            },
            "moves": [
                {"from": old, "to": new, "count": count}
                for (old, new), count in sorted(
                    moved.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1] or "")
                )
            ],
            "cost": {
                "before_usd": _usd(self.cost_before),
                "after_usd": _usd(self.cost_after),
                "delta_usd": _usd(self.cost_after - self.cost_before),
                "unpriced": {"before": self.unpriced_before, "after": self.unpriced_after},
                "requests_with_estimated_tokens": self.tokens_estimated,
            },
            "privacy": {
                "pii_requests": self.pii_requests,
                "local_only": {"before": self.local_before, "after": self.local_after},
                "pii_on_cloud": {"before": self.pii_cloud_before, "after": self.pii_cloud_after},
            },
            "rule_hits": {"before": dict(self.rules_before), "after": dict(self.rules_after)},
            "refusals": {
                "before": sum(self.refusals_before.values()),
                "after": sum(self.refusals_after.values()),
                "by_code": {
                    "before": dict(self.refusals_before),
                    "after": dict(self.refusals_after),
                },
            },
            "fallbacks": self._fallbacks(),
            "stored_config_versions": sorted(self.versions),
        }


STORED_FIELDS = (
    "id",
    "created_at",
    "outcome",
    "chain",
    "local_only",
    "pii_types",
    "features",
    "trace",
    "attempts",
    "prompt_tokens",
    "completion_tokens",
    "config_version",
)


def traffic_simulate(
    *,
    draft: Draft,
    since: datetime,
    until: datetime,
    limit: int = DEFAULT_LIMIT,
    now: datetime,
) -> dict[str, Any]:
    """Re-decide the stored traffic of [since, until) (at most `limit` requests, oldest
    first) on the current configuration with `draft` applied. Writes nothing."""
    limit = max(1, min(limit, MAX_LIMIT))
    base = current_config_data(now)
    drafted = draft_apply(base, draft)
    snapshot = build_snapshot(drafted)  # once, for every request
    tally = _Tally(old_prices=_prices(base), new_prices=_prices(drafted))
    rows = (
        Decision.objects.filter(
            created_at__gte=since, created_at__lt=until, trace__has_key="inputs"
        )
        .exclude(outcome=DecisionOutcome.DRY_RUN)
        .order_by("created_at", "id")
        .only(*STORED_FIELDS)[: limit + 1]
    )
    truncated = False
    for row in rows.iterator(chunk_size=1000):
        if tally.considered == limit:
            truncated = True
            break
        tally.considered += 1
        inputs = stored_inputs(row)
        try:
            new = None if inputs is None else rerun(inputs, row.features, snapshot)
        except STALE_INPUT_ERRORS:
            new = None
        if inputs is None or new is None:
            tally.skipped += 1
            continue
        tally.add(row, inputs, new)
    return {
        "range": {"since": since.isoformat(), "until": until.isoformat()},
        "limit": limit,
        "truncated": truncated,
        "current_config_version": int(drafted.get("version", 0)),
        "draft": draft.summary(),
        **tally.report(),
        "notes": list(SIMULATION_NOTES),
    }
