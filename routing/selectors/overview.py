"""The overview page's series: plain lists and dicts, no plotly, no templates.

Every series covers one `OverviewWindow` (the last 7 or 30 UTC days, today included)
and is one SQL statement that adds two parts:

- the rollups (routing.models.rollups) for the closed buckets before the watermark:
  day rows for the days before the watermark's day, hour rows for its day, minute rows
  for its hour. At most a few thousand rows, however many decisions there were;
- the live tail: the decisions after the watermark, aggregated by the same SELECTs the
  rollup writes with (routing.rollup_sql), so the page is right before the rollup task
  has caught up, and exactly what the rollup will later say.

With nothing rolled up (a fresh install, no beat running) the tail is the whole window,
as before the rollups. What lives in JSON (attempts, PII types) and the latency values
are read from at most the tail's `cap` most recent decisions, and each series says when
that cap cut the tail short.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from routing.choices import DecisionOutcome, ModelType
from routing.engine.inputs import RuntimeState
from routing.models import AttemptRollup, DecisionRollup, LatencyRollup, LLMModel, PiiTypeRollup
from routing.rejection_reasons import REASON_BUCKETS, reason_bucket
from routing.rollup_sql import (
    ANSWERED,
    ATTEMPT_COLUMNS,
    DECISION_COLUMNS,
    DECISIONS,
    PII_TYPE_COLUMNS,
    Source,
    attempt_sums,
    db_datetime,
    decision_sums,
    dialect,
    latency_bin,
    pii_type_sums,
    rolled_rows,
)
from routing.selectors.latency_percentiles import histogram_percentile, percentile
from routing.selectors.status import status
from routing.services.rollups import DAY, HOUR, MINUTE, floor_day, floor_hour, floor_minute
from routing.services.rollups import rollup_watermark as _rollup_watermark

__all__ = [
    "ATTEMPT_SCAN_CAP",
    "DEFAULT_WINDOW_DAYS",
    "LATENCY_SAMPLE_CAP",
    "PII_SCAN_CAP",
    "REASON_BUCKETS",
    "WINDOW_DAYS",
    "OverviewWindow",
    "budget_spend_series",
    "decisions_by_strategy_series",
    "fallback_by_reason_series",
    "fallback_tax_series",
    "histogram_percentile",
    "latency_by_model_series",
    "overview",
    "overview_window",
    "percentile",
    "privacy_series",
    "reason_bucket",
    "spend_by_agent_series",
]

WINDOW_DAYS = (7, 30)
DEFAULT_WINDOW_DAYS = 7

# The live tail's JSON and latency reads take at most this many of its most recent
# decisions. The tail is normally a few minutes; it only gets near these when the
# rollup task has not run for a while (or never: then the tail is the whole window).
ATTEMPT_SCAN_CAP = 20_000
PII_SCAN_CAP = 20_000
LATENCY_SAMPLE_CAP = 20_000

NO_AGENT = "(no agent)"
NO_STRATEGY = "(none)"

_READ = object()  # overview_window's default: read the watermark


@dataclass(frozen=True, slots=True)
class OverviewWindow:
    """The last `days` UTC days, today included: from `start` (a midnight) to `end`.
    `rolled_until`: where the rollups end (None: nothing is rolled up)."""

    days: int
    start: datetime
    end: datetime
    rolled_until: datetime | None = None

    @property
    def dates(self) -> list[date]:
        first = self.start.date()
        return [first + timedelta(days=i) for i in range(self.days)]


def overview_window(days: int, now: datetime, *, rolled_until: Any = _READ) -> OverviewWindow:
    """The window ending at `now`. Reads the rollup watermark (one query) unless given."""
    if days not in WINDOW_DAYS:
        raise ValueError(f"window must be one of {WINDOW_DAYS} days, not {days}")
    today = now.astimezone(UTC).date()
    start = datetime.combine(today - timedelta(days=days - 1), time.min, tzinfo=UTC)
    rolled = _rollup_watermark() if rolled_until is _READ else rolled_until
    return OverviewWindow(days=days, start=start, end=now, rolled_until=rolled)


@dataclass(frozen=True)
class _Parts:
    """The window split into rolled-up bucket ranges and the live tail [tail_start,
    tail_end) of decisions."""

    tail_start: datetime
    tail_end: datetime
    ranges: list[tuple[str, datetime, datetime]] = field(default_factory=list)

    @property
    def tail_params(self) -> list[Any]:
        return [db_datetime(self.tail_start), db_datetime(self.tail_end)]


def _parts(window: OverviewWindow) -> _Parts:
    end = window.end + timedelta(microseconds=1)  # the window includes its end
    rolled = window.rolled_until
    if rolled is not None:
        # A watermark past the window's end (a window in the past): roll up to the end's
        # minute only; minute, hour and day rows before the watermark all exist.
        rolled = min(rolled, floor_minute(window.end))
    if rolled is None or rolled <= window.start:
        return _Parts(tail_start=window.start, tail_end=end)
    day, hour = floor_day(rolled), floor_hour(rolled)
    candidates = [
        (DAY, window.start, day),
        (HOUR, max(window.start, day), hour),
        (MINUTE, max(window.start, hour), rolled),
    ]
    ranges = [(g, low, high) for g, low, high in candidates if low < high]
    return _Parts(ranges=ranges, tail_start=rolled, tail_end=end)


def _tail_source(parts: _Parts, *more: str) -> Source:
    where = " AND ".join(("d.created_at >= %s AND d.created_at < %s", *more))
    return Source(f"{DECISIONS} d", where, tuple(parts.tail_params))


def _capped_tail(name: str, columns: str, *more: str) -> str:
    """A CTE of the tail's `cap` most recent decisions (binds tail start, end, cap)."""
    where = " AND ".join(("d.created_at >= %s AND d.created_at < %s", *more))
    return (
        f"{name} AS (SELECT {columns} FROM {DECISIONS} d WHERE {where}"  # noqa: S608 (constants)
        " ORDER BY d.created_at DESC, d.id DESC LIMIT %s)"
    )


def _decision_rows(parts: _Parts) -> tuple[str, list[Any]]:
    """A FROM item `r` of DecisionRollup-shaped rows: the rolled-up ones, then the tail
    summed per day."""
    table = DecisionRollup._meta.db_table
    condition, params = rolled_rows("r0", parts.ranges)
    tail = _tail_source(parts)
    columns = ", ".join(DECISION_COLUMNS)
    sql = (
        f"(SELECT {columns} FROM {table} r0 WHERE {condition}"  # noqa: S608 (constants)
        f" UNION ALL {decision_sums(dialect(), DAY, tail)}) r"
    )
    return sql, [*params, *tail.params]


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _day_of(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _usd(value: Decimal | float | None) -> float:
    return round(float(value or 0), 6)


# -- spend ----------------------------------------------------------------------------------


def spend_by_agent_series(window: OverviewWindow) -> dict[str, Any]:
    """Money billed per agent per day: each decision's answer plus its fallback tax (every
    billed call, as the spend ledger counts it). Agents that spent nothing are left out.
    One query."""
    rows_sql, params = _decision_rows(_parts(window))
    day = dialect().day("r.bucket_start")
    rows = _fetch(
        f"SELECT {day}, r.agent_key, SUM(r.cost_usd + r.fallback_tax_usd)"  # noqa: S608
        f" FROM {rows_sql} GROUP BY 1, 2",
        params,
    )
    index = {d: i for i, d in enumerate(window.dates)}
    per_agent: dict[str, list[float]] = defaultdict(lambda: [0.0] * window.days)
    for day_value, agent, spend in rows:
        i = index.get(_day_of(day_value))
        if i is not None:
            per_agent[agent or NO_AGENT][i] += float(spend or 0)
    totals = {agent: sum(usd) for agent, usd in per_agent.items()}
    agents = sorted((a for a, t in totals.items() if t > 0), key=lambda a: (-totals[a], a))
    return {
        "days": [d.isoformat() for d in window.dates],
        "agents": [{"agent": a, "usd": [round(v, 6) for v in per_agent[a]]} for a in agents],
        "total_usd": round(sum(totals.values()), 6),
    }


def budget_spend_series(now: datetime, state: RuntimeState | None = None) -> list[dict[str, Any]]:
    """Spend in the current period against each budget with a limit, with today's burn
    rate projected to midnight for daily budgets. Reuses selectors.status (the cached
    snapshot's budgets and one spend-ledger query), so it never disagrees with routing."""
    rows = []
    for budget in status(now, state=state)["budgets"]:
        if budget["limit_usd"] is None:  # a per-request cap only: nothing to burn down
            continue
        label = budget["scope"] + (f" {budget['target']}" if budget["target"] else "")
        rows.append({**budget, "label": f"{label} / {budget['period']}"})
    return rows


def fallback_tax_series(window: OverviewWindow) -> dict[str, Any]:
    """The cost of rejected attempts per day: answers billed and then thrown away
    (empty, refusal, invalid JSON, a lost hedge), from `fallback_tax_usd`. One query."""
    rows_sql, params = _decision_rows(_parts(window))
    day = dialect().day("r.bucket_start")
    rows = _fetch(
        f"SELECT {day}, SUM(r.fallback_tax_usd) FROM {rows_sql} GROUP BY 1",  # noqa: S608
        params,
    )
    by_day: dict[date, float] = defaultdict(float)
    for day_value, tax in rows:
        by_day[_day_of(day_value)] += float(tax or 0)
    usd = [_usd(by_day.get(d)) for d in window.dates]
    return {
        "days": [d.isoformat() for d in window.dates],
        "usd": usd,
        "total_usd": round(sum(usd), 6),
    }


# -- fallbacks ------------------------------------------------------------------------------


def fallback_by_reason_series(
    window: OverviewWindow, *, cap: int = ATTEMPT_SCAN_CAP
) -> dict[str, Any]:
    """Per model: how many attempts it had and how many were rejected, by reason bucket
    (the fallback rate is rejected / attempts). The tail's attempts are read from its
    `cap` most recent decisions; `scanned` says how many, `capped` whether the cap cut
    the tail short. One query."""
    parts = _parts(window)
    sql = dialect()
    condition, rolled_params = rolled_rows("r0", parts.ranges)
    columns = ", ".join(ATTEMPT_COLUMNS)
    statement = (
        f"WITH {_capped_tail('attempt_tail', 'd.id, d.created_at, d.attempts')}"  # noqa: S608
        f" SELECT 'a', x.model, x.reason_bucket, SUM(x.attempts) FROM ("
        f" SELECT {columns} FROM {AttemptRollup._meta.db_table} r0 WHERE {condition}"
        f" UNION ALL {attempt_sums(sql, DAY, Source('attempt_tail d'))}"
        ") x GROUP BY 2, 3"
        " UNION ALL SELECT 's', '', '', COUNT(*) FROM attempt_tail"
    )
    rows = _fetch(statement, [*parts.tail_params, cap, *rolled_params])
    attempts: Counter[str] = Counter()
    rejected: dict[str, Counter[str]] = defaultdict(Counter)
    scanned = 0
    for kind, model, bucket, n in rows:
        if kind == "s":
            scanned = int(n)
            continue
        attempts[model] += int(n)
        if bucket:
            rejected[bucket][model] += int(n)
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

    "PII to a cloud model" counts answers by any model not known to be local in the
    registry now (a cloud model since deleted or renamed still shows). The tail's PII
    types are read from its `cap` most recent decisions with PII (the partial index
    `decision_with_pii` keeps that short). One query."""
    parts = _parts(window)
    sql = dialect()
    rows_sql, rows_params = _decision_rows(parts)
    pii_condition, pii_params = rolled_rows("r1", parts.ranges)
    has_pii = sql.list_not_empty("d.pii_types")
    tail = _capped_tail("pii_tail", "d.id, d.created_at, d.pii_types", has_pii)
    models = LLMModel._meta.db_table
    day_r, day_p = sql.day("r.bucket_start"), sql.day("p.bucket_start")
    statement = (
        f"WITH {tail}"  # noqa: S608 (our constants; values are bound)
        f" SELECT 'd', {day_r}, '', SUM(r.with_pii), SUM(r.forced_local),"
        " SUM(r.refused_privacy), SUM(CASE WHEN r.model_used <> '' AND r.model_used NOT IN"
        f" (SELECT key FROM {models} WHERE type = %s) THEN r.with_pii ELSE 0 END)"
        f" FROM {rows_sql} GROUP BY 2"
        f" UNION ALL SELECT 't', {day_p}, p.pii_type, SUM(p.decisions), 0, 0, 0 FROM ("
        f" SELECT {', '.join(PII_TYPE_COLUMNS)} FROM {PiiTypeRollup._meta.db_table} r1"
        f" WHERE {pii_condition} UNION ALL {pii_type_sums(sql, DAY, Source('pii_tail d'))}"
        ") p GROUP BY 2, 3"
        " UNION ALL SELECT 's', NULL, '', COUNT(*), 0, 0, 0 FROM pii_tail"
    )
    params = [*parts.tail_params, cap, ModelType.LOCAL.value, *rows_params, *pii_params]
    index = {d: i for i, d in enumerate(window.dates)}
    daily: dict[str, list[int]] = {
        k: [0] * window.days for k in ("with_pii", "forced_local", "refused", "pii_to_cloud")
    }
    per_type: dict[str, list[int]] = defaultdict(lambda: [0] * window.days)
    scanned = 0
    for kind, day_value, pii_type, a, b, c, d in _fetch(statement, params):
        if kind == "s":
            scanned = int(a)
            continue
        i = index.get(_day_of(day_value))
        if i is None:
            continue
        if kind == "t":
            per_type[str(pii_type)][i] += int(a)
        else:
            for key, value in zip(daily, (a, b, c, d), strict=True):
                daily[key][i] += int(value or 0)
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
    """How many decisions each strategy made, by outcome. One query."""
    rows_sql, params = _decision_rows(_parts(window))
    rows = _fetch(
        f"SELECT r.strategy, r.outcome, SUM(r.decisions) FROM {rows_sql} GROUP BY 1, 2",  # noqa: S608
        params,
    )
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for strategy, outcome, n in rows:
        counts[strategy or NO_STRATEGY][outcome] += int(n)
    strategies = sorted(counts, key=lambda s: (-sum(counts[s].values()), s))
    outcomes = [o for o in DecisionOutcome.values if any(counts[s][o] for s in strategies)]
    return {
        "strategies": strategies,
        "outcomes": {o: [counts[s][o] for s in strategies] for o in outcomes},
        "total": sum(sum(c.values()) for c in counts.values()),
    }


def latency_by_model_series(
    window: OverviewWindow, *, sample_cap: int = LATENCY_SAMPLE_CAP
) -> dict[str, Any]:
    """p50 and p95 of end-to-end latency per answering model (answered, not from the
    cache, whose ~0 ms would drag the percentiles down). One query.

    With rolled-up buckets in the window the percentiles come from the summed latency
    histograms, the tail's latencies added to their bins (`method` "histogram": within
    9.1%, exact below 16 ms). With none, from the tail's latencies themselves, exact
    (`method` "exact") unless more than `sample_cap` (`method` "sample": the most
    recent ones, and `capped`)."""
    parts = _parts(window)
    condition, rolled_params = rolled_rows("r0", parts.ranges)
    statement = (
        "SELECT 'h', r0.model, r0.lower_ms, SUM(r0.answers)"  # noqa: S608 (constants)
        f" FROM {LatencyRollup._meta.db_table} r0 WHERE {condition} GROUP BY 2, 3"
        " UNION ALL SELECT 'v', t.model_used, t.latency_ms, 1 FROM ("
        f"SELECT d.model_used, d.latency_ms FROM {DECISIONS} d"
        f" WHERE d.created_at >= %s AND d.created_at < %s AND {ANSWERED}"
        " ORDER BY d.created_at DESC, d.id DESC LIMIT %s) t"
    )
    rows = _fetch(statement, [*rolled_params, *parts.tail_params, sample_cap])
    histograms: dict[str, Counter[int]] = defaultdict(Counter)
    values: dict[str, list[int]] = defaultdict(list)
    for kind, model, latency, n in rows:
        if kind == "h":
            histograms[model][int(latency)] += int(n)
        else:
            values[model].append(int(latency))
    sampled = sum(len(v) for v in values.values())
    capped = sampled >= sample_cap
    result: list[tuple[str, int, float, float]] = []
    if histograms:
        method = "histogram"
        for model, latencies in values.items():
            for latency in latencies:
                histograms[model][latency_bin(latency)] += 1
        for model, histogram in histograms.items():
            bins = sorted(histogram.items())
            p50, p95 = histogram_percentile(bins, 0.5), histogram_percentile(bins, 0.95)
            result.append((model, sum(histogram.values()), p50, p95))
    else:
        method = "sample" if capped else "exact"
        for model, latencies in values.items():
            ordered = sorted(float(v) for v in latencies)
            result.append(
                (model, len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.95))
            )
    result.sort(key=lambda r: r[0])
    return {
        "models": [r[0] for r in result],
        "count": [r[1] for r in result],
        "p50_ms": [round(r[2], 1) for r in result],
        "p95_ms": [round(r[3], 1) for r in result],
        "method": method,
        "capped": capped,
    }


# -- the page -------------------------------------------------------------------------------


def overview(days: int, now: datetime, *, state: RuntimeState | None = None) -> dict[str, Any]:
    """Every series of the overview for the last `days` days. Eight queries once the
    configuration snapshot is warm: the rollup watermark, one per series, and one for
    the budgets (none when the page passes the runtime state it read)."""
    window = overview_window(days, now)
    strategies = decisions_by_strategy_series(window)
    return {
        "days": window.days,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "has_decisions": strategies["total"] > 0,
        "spend_by_agent": spend_by_agent_series(window),
        "budgets": budget_spend_series(now, state),
        "fallbacks": fallback_by_reason_series(window),
        "privacy": privacy_series(window),
        "strategies": strategies,
        "latency": latency_by_model_series(window),
        "fallback_tax": fallback_tax_series(window),
    }
