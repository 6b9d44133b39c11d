"""The overview page's series: plain lists and dicts, no plotly, no templates.

Every series covers one `OverviewWindow` (the last 7 or 30 UTC days, today included)
and is computed by one function here, from the decision table:

- the aggregates (`values().annotate()` over `TruncDay`, conditional `Count`/`Sum`)
  filter on `created_at` first, so they range-scan the `decision_recent` index;
- what lives only in JSON (attempts, PII types) is scanned in Python over the most
  recent rows of the window, capped (`ATTEMPT_SCAN_CAP`, `PII_SCAN_CAP`), and says
  when the cap was hit.

A later issue adds rollup tables for millions of decisions. Each series stays behind
its own function so that swap is local: replace one body, keep its return shape (the
charts and the page only see the shape).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDay

from routing.choices import DecisionOutcome, ModelType
from routing.models import Decision, LLMModel
from routing.selectors.status import status

WINDOW_DAYS = (7, 30)
DEFAULT_WINDOW_DAYS = 7

# The JSON scans read at most this many of the window's most recent decisions. At the
# dashboard's scale a window holds far fewer; past it the rollups take over.
ATTEMPT_SCAN_CAP = 20_000
PII_SCAN_CAP = 20_000
# SQLite has no percentile aggregate: its latencies come from this many recent answers.
LATENCY_SAMPLE_CAP = 20_000

NO_AGENT = "(no agent)"
NO_STRATEGY = "(none)"

# Rejection reasons as the executor writes them (routing.execution), in buckets. Order
# is the chart's stacking order; anything unrecognised is "other".
TIMEOUT = "timeout"
HTTP_5XX = "http 5xx"
RATE_LIMITED = "rate limited (429)"
CONNECT = "connect"
REFUSAL = "refusal"
EMPTY = "empty answer"
INVALID = "invalid JSON / schema"
CUT_OFF = "cut off"
CIRCUIT_OPEN = "circuit open / cooling down"
OTHER = "other"
REASON_BUCKETS = (
    TIMEOUT,
    HTTP_5XX,
    RATE_LIMITED,
    CONNECT,
    REFUSAL,
    EMPTY,
    INVALID,
    CUT_OFF,
    CIRCUIT_OPEN,
    OTHER,
)
_REASON_PREFIXES = (
    ("rate limited", RATE_LIMITED),
    ("http_429", RATE_LIMITED),
    ("first_token_timeout", TIMEOUT),
    ("timeout", TIMEOUT),
    ("connect", CONNECT),
    ("http_5xx", HTTP_5XX),
    ("cooling down", CIRCUIT_OPEN),
    ("refusal", REFUSAL),
    ("empty answer", EMPTY),
    ("invalid json", INVALID),
    ("schema violation", INVALID),
    ("answer cut off", CUT_OFF),
)
_STREAM_FAILED = "stream failed after the first token: "


@dataclass(frozen=True, slots=True)
class OverviewWindow:
    """The last `days` UTC days, today included: from `start` (a midnight) to `end`."""

    days: int
    start: datetime
    end: datetime

    @property
    def dates(self) -> list[date]:
        first = self.start.date()
        return [first + timedelta(days=i) for i in range(self.days)]


def overview_window(days: int, now: datetime) -> OverviewWindow:
    if days not in WINDOW_DAYS:
        raise ValueError(f"window must be one of {WINDOW_DAYS} days, not {days}")
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)
    return OverviewWindow(days=days, start=start, end=now)


def _in_window(window: OverviewWindow) -> QuerySet[Decision]:
    # created_at first: every query below is a range scan of decision_recent.
    return Decision.objects.filter(created_at__gte=window.start, created_at__lte=window.end)


def _by_day(window: OverviewWindow) -> QuerySet[Decision]:
    # Explicit UTC: the days must be the ledger's and the burn rate's days.
    return _in_window(window).annotate(day=TruncDay("created_at", tzinfo=UTC))


def _day_of(value: datetime | date) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _usd(value: Decimal | float | None) -> float:
    return round(float(value or 0), 6)


def _local_model_keys() -> QuerySet[LLMModel]:
    return LLMModel.objects.filter(type=ModelType.LOCAL).values("key")


_HAS_PII = ~Q(pii_types=[])


# -- spend ----------------------------------------------------------------------------------


def spend_by_agent_series(window: OverviewWindow) -> dict[str, Any]:
    """Money billed per agent per day: each decision's answer plus its fallback tax (every
    billed call, as the spend ledger counts it). Agents that spent nothing are left out.
    One query. Rollup swap: the agent-scope daily rows of a decision rollup (or the
    spend ledger's agent/day buckets, which hold the same sums)."""
    rows = (
        _by_day(window)
        .values("day", "agent_key")
        .annotate(spend=Sum(F("cost_usd") + F("fallback_tax_usd")))
        .order_by()
    )
    index = {d: i for i, d in enumerate(window.dates)}
    per_agent: dict[str, list[float]] = defaultdict(lambda: [0.0] * window.days)
    for row in rows:
        i = index.get(_day_of(row["day"]))
        if i is not None:
            per_agent[row["agent_key"] or NO_AGENT][i] += float(row["spend"] or 0)
    totals = {agent: sum(usd) for agent, usd in per_agent.items()}
    agents = sorted((a for a, t in totals.items() if t > 0), key=lambda a: (-totals[a], a))
    return {
        "days": [d.isoformat() for d in window.dates],
        "agents": [{"agent": a, "usd": [round(v, 6) for v in per_agent[a]]} for a in agents],
        "total_usd": round(sum(totals.values()), 6),
    }


def budget_spend_series(now: datetime) -> list[dict[str, Any]]:
    """Spend in the current period against each budget with a limit, with today's burn
    rate projected to midnight for daily budgets. Reuses selectors.status (the cached
    snapshot's budgets and one spend-ledger query), so it never disagrees with routing."""
    rows = []
    for budget in status(now)["budgets"]:
        if budget["limit_usd"] is None:  # a per-request cap only: nothing to burn down
            continue
        label = budget["scope"] + (f" {budget['target']}" if budget["target"] else "")
        rows.append({**budget, "label": f"{label} / {budget['period']}"})
    return rows


def fallback_tax_series(window: OverviewWindow) -> dict[str, Any]:
    """The cost of rejected attempts per day: answers billed and then thrown away
    (empty, refusal, invalid JSON, a lost hedge), from `fallback_tax_usd`. One query.
    Rollup swap: a daily sum column."""
    rows = _by_day(window).values("day").annotate(tax=Sum("fallback_tax_usd")).order_by()
    by_day = {_day_of(row["day"]): float(row["tax"] or 0) for row in rows}
    usd = [_usd(by_day.get(d)) for d in window.dates]
    return {
        "days": [d.isoformat() for d in window.dates],
        "usd": usd,
        "total_usd": round(sum(usd), 6),
    }


# -- fallbacks ------------------------------------------------------------------------------


def reason_bucket(reason: str | None) -> str:
    """The chart bucket of one rejected attempt's reason (see routing.execution)."""
    text = (reason or "").strip().lower()
    if text.startswith(_STREAM_FAILED):
        text = text[len(_STREAM_FAILED) :]
    for prefix, bucket in _REASON_PREFIXES:
        if text.startswith(prefix):
            return bucket
    return OTHER


def fallback_by_reason_series(
    window: OverviewWindow, *, cap: int = ATTEMPT_SCAN_CAP
) -> dict[str, Any]:
    """Per model: how many attempts it had and how many were rejected, by reason bucket
    (the fallback rate is rejected / attempts). Attempts live in a JSON list, so this
    scans the `cap` most recent decisions of the window in Python (one query) and says
    whether the cap cut the window short. Rollup swap: per-day (model, bucket) counts
    written when a decision is recorded."""
    rows = (
        _in_window(window).order_by("-created_at", "-id").values_list("attempts", flat=True)[:cap]
    )
    attempts: Counter[str] = Counter()
    rejected: dict[str, Counter[str]] = defaultdict(Counter)
    scanned = 0
    for row in rows:
        scanned += 1
        for attempt in row or []:
            model = attempt.get("model") or "?"
            attempts[model] += 1
            if attempt.get("outcome") != "success":
                rejected[reason_bucket(attempt.get("reason"))][model] += 1
    models = sorted(attempts, key=lambda m: (-attempts[m], m))
    counts = {b: [rejected[b][m] for m in models] for b in REASON_BUCKETS}
    rates = {b: [round(rejected[b][m] / attempts[m], 4) for m in models] for b in REASON_BUCKETS}
    return {
        "models": models,
        "attempts": [attempts[m] for m in models],
        "buckets": list(REASON_BUCKETS),
        "rejected": counts,
        "rates": rates,
        "total_rejected": sum(sum(c) for c in counts.values()),
        "scanned": scanned,
        "capped": scanned >= cap,
    }


# -- privacy --------------------------------------------------------------------------------


def privacy_series(window: OverviewWindow, *, cap: int = PII_SCAN_CAP) -> dict[str, Any]:
    """Privacy-rule activations per day: requests per PII type found, requests forced
    local, requests refused for privacy (refused while carrying PII or restricted to
    local models), and requests with PII answered by a cloud model, which must be 0.

    Two queries. The daily counts are one conditional aggregate; "PII to a cloud model"
    joins the registry's model type through a subquery on `model_used` (a decision
    records `model_used` only when that model answered; any answering model not known to
    be local counts). The PII types are a JSON list,
    counted in Python over the window's `cap` most recent decisions with PII (the
    partial index `decision_with_pii` keeps that scan short).
    Rollup swap: per-day counts plus per-day (PII type) counts."""
    local_or_pii = _HAS_PII | Q(local_only=True)
    rows = (
        _by_day(window)
        .values("day")
        .annotate(
            with_pii=Count("id", filter=_HAS_PII),
            forced_local=Count("id", filter=Q(local_only=True)),
            refused=Count("id", filter=Q(outcome=DecisionOutcome.REFUSED) & local_or_pii),
            # Counted as "not known to be local", so a cloud model since deleted or
            # renamed in the registry still shows up here.
            pii_to_cloud=Count(
                "id",
                filter=_HAS_PII
                & ~Q(model_used="")
                & ~Q(model_used__in=Subquery(_local_model_keys())),
            ),
        )
        .order_by()
    )
    index = {d: i for i, d in enumerate(window.dates)}
    daily: dict[str, list[int]] = {
        k: [0] * window.days for k in ("with_pii", "forced_local", "refused", "pii_to_cloud")
    }
    for row in rows:
        i = index.get(_day_of(row["day"]))
        if i is not None:
            for key, values in daily.items():
                values[i] = row[key]

    scan = (
        _in_window(window)
        .filter(_HAS_PII)
        .order_by("-created_at", "-id")
        .values_list("created_at", "pii_types")[:cap]
    )
    per_type: dict[str, list[int]] = defaultdict(lambda: [0] * window.days)
    scanned = 0
    for created_at, types in scan:
        scanned += 1
        i = index.get(_day_of(created_at))
        if i is not None:
            for pii_type in set(types or []):
                per_type[str(pii_type)][i] += 1
    return {
        "days": [d.isoformat() for d in window.dates],
        "pii_types": [{"type": t, "counts": per_type[t]} for t in sorted(per_type)],
        **daily,
        "pii_to_cloud_total": sum(daily["pii_to_cloud"]),
        "pii_scanned": scanned,
        "pii_capped": scanned >= cap,
    }


# -- strategies and latency -----------------------------------------------------------------


def decisions_by_strategy_series(window: OverviewWindow) -> dict[str, Any]:
    """How many decisions each strategy made, by outcome. One query.
    Rollup swap: per-day (strategy, outcome) counts."""
    rows = _in_window(window).values("strategy", "outcome").annotate(n=Count("id")).order_by()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[row["strategy"] or NO_STRATEGY][row["outcome"]] += row["n"]
    strategies = sorted(counts, key=lambda s: (-sum(counts[s].values()), s))
    outcomes = [o for o in DecisionOutcome.values if any(counts[s][o] for s in strategies)]
    return {
        "strategies": strategies,
        "outcomes": {o: [counts[s][o] for s in strategies] for o in outcomes},
        "total": sum(sum(c.values()) for c in counts.values()),
    }


class PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(f) WITHIN GROUP (ORDER BY expr)`."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        # A float formatted by us, never user input: safe to place in the SQL.
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks: what percentile_cont computes."""
    if not sorted_values:
        raise ValueError("no values")
    position = fraction * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_by_model_series(
    window: OverviewWindow, *, sample_cap: int = LATENCY_SAMPLE_CAP
) -> dict[str, Any]:
    """p50 and p95 of end-to-end latency per answering model (answered, not from the
    cache, whose ~0 ms would drag the percentiles down). One query.

    PostgreSQL computes exact percentiles with `percentile_cont` over the whole window.
    SQLite has no percentile aggregate, so there they are computed in Python, with the
    same interpolation, over the window's `sample_cap` most recent answers: exact
    until a window holds more than that. Rollup swap: per-day latency histograms."""
    answered = _in_window(window).filter(outcome=DecisionOutcome.SUCCESS, cached=False)
    answered = answered.exclude(model_used="")
    rows: Iterable[tuple[str, int, float, float]]
    if connection.vendor == "postgresql":
        method = "percentile_cont"
        rows = (
            answered.values("model_used")
            .annotate(
                n=Count("id"),
                p50=PercentileCont("latency_ms", 0.5),
                p95=PercentileCont("latency_ms", 0.95),
            )
            .order_by()
            .values_list("model_used", "n", "p50", "p95")
        )
        capped = False
    else:
        method = "sample"
        sample = list(
            answered.order_by("-created_at", "-id").values_list("model_used", "latency_ms")[
                :sample_cap
            ]
        )
        capped = len(sample) >= sample_cap
        by_model: dict[str, list[float]] = defaultdict(list)
        for model, latency in sample:
            by_model[model].append(float(latency))
        rows = []
        for model, values in by_model.items():
            values.sort()
            rows.append((model, len(values), percentile(values, 0.5), percentile(values, 0.95)))
    ordered = sorted(rows, key=lambda r: r[0])
    return {
        "models": [r[0] for r in ordered],
        "count": [r[1] for r in ordered],
        "p50_ms": [round(float(r[2]), 1) for r in ordered],
        "p95_ms": [round(float(r[3]), 1) for r in ordered],
        "method": method,
        "capped": capped,
    }


# -- the page -------------------------------------------------------------------------------


def overview(days: int, now: datetime) -> dict[str, Any]:
    """Every series of the overview for the last `days` days. Eight queries once the
    configuration snapshot is warm (one per series, two for privacy, one for budgets)."""
    window = overview_window(days, now)
    strategies = decisions_by_strategy_series(window)
    return {
        "days": window.days,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "has_decisions": strategies["total"] > 0,
        "spend_by_agent": spend_by_agent_series(window),
        "budgets": budget_spend_series(now),
        "fallbacks": fallback_by_reason_series(window),
        "privacy": privacy_series(window),
        "strategies": strategies,
        "latency": latency_by_model_series(window),
        "fallback_tax": fallback_tax_series(window),
    }
