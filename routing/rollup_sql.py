"""The aggregate SELECTs over decisions behind the rollup tables, in each backend's SQL.

The rollup service (routing.services.rollups) runs them as INSERT ... SELECT over closed
bucket ranges; the overview (routing.selectors.overview) runs the same SELECTs over the
live tail, the decisions after the watermark, and adds them to the rolled-up rows. One
definition of every sum, so the rolled part and the live part agree by construction.

Each builder takes a `Source`: a FROM item that names the decision table (or a CTE over
it) `d`, and a condition on it. Parameters are `%s`, bound in the order they appear.
PostgreSQL and SQLite differ in four things, kept in `Dialect`: truncating a timestamp
to a UTC bucket, the day of a timestamp, expanding a JSON list into rows, and comparing
a JSON list with [].
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from routing.models import (
    AttemptRollup,
    Decision,
    DecisionRollup,
    LatencyRollup,
    PiiTypeRollup,
    RollupGranularity,
)
from routing.rejection_reasons import OTHER, REASON_PREFIXES, STREAM_FAILED

DECISIONS = Decision._meta.db_table

# Latency histogram bins: 8 per doubling from 1 ms to 2**20 ms (17.5 minutes), with
# integer edges so that SQL and Python put a latency in the same bin. Below 16 ms a bin
# is 1 ms wide (exact); above, the integers in a bin are at most 9.1% above its lower
# edge, so a percentile read from the histogram is within 9.1% of the exact one.
LATENCY_BINS_PER_DOUBLING = 8
LATENCY_BIN_EDGES_MS: tuple[int, ...] = (
    0,
    *sorted({math.ceil(2 ** (i / LATENCY_BINS_PER_DOUBLING)) for i in range(20 * 8 + 1)}),
)


def latency_bin(latency_ms: int) -> int:
    """The lower edge of the bin `latency_ms` falls in."""
    return LATENCY_BIN_EDGES_MS[bisect_right(LATENCY_BIN_EDGES_MS, max(latency_ms, 0)) - 1]


def latency_bin_upper(lower_ms: int) -> int | None:
    """The next bin's lower edge; None for the last bin, which has no upper bound."""
    index = bisect_right(LATENCY_BIN_EDGES_MS, lower_ms)
    return LATENCY_BIN_EDGES_MS[index] if index < len(LATENCY_BIN_EDGES_MS) else None


@dataclass(frozen=True)
class Source:
    """Where the decisions come from: a FROM item aliased `d`, and a condition on it
    ("" for none). `params` bind the condition's placeholders."""

    from_item: str
    where: str = ""
    params: tuple[Any, ...] = ()

    def where_sql(self, *more: str) -> str:
        conditions = [c for c in (self.where, *more) if c]
        return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def literal(text: str) -> str:
    """A constant of ours as an SQL string literal (quotes doubled, % escaped for the
    driver's parameter syntax)."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


@dataclass(frozen=True)
class Dialect:
    postgresql: bool

    def bucket(self, column: str, granularity: str) -> str:
        """`column` truncated to the start of its UTC minute, hour or day."""
        if granularity not in RollupGranularity.values:
            raise ValueError(f"unknown granularity {granularity!r}")
        if self.postgresql:
            return f"date_trunc('{granularity}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        # Django keeps SQLite datetimes as UTC text; the bucket is text of the same form.
        pattern = {"minute": "%Y-%m-%d %H:%M:00", "hour": "%Y-%m-%d %H:00:00"}.get(
            granularity, "%Y-%m-%d 00:00:00"
        )
        return f"strftime({literal(pattern)}, {column})"

    def day(self, column: str) -> str:
        """The UTC date of `column` (a date on PostgreSQL, ISO text on SQLite)."""
        if self.postgresql:
            return f"CAST({column} AT TIME ZONE 'UTC' AS date)"
        return f"date({column})"

    def json_rows(self, column: str, alias: str) -> str:
        """A join giving one row (`alias`) per element of the JSON list in `column`;
        anything that is not a list gives none."""
        if self.postgresql:
            return (
                f"CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof({column}) = "
                f"'array' THEN {column} ELSE '[]'::jsonb END) AS {alias}(value)"
            )
        return (
            f"CROSS JOIN json_each(CASE WHEN json_type({column}) = 'array' THEN {column} "
            f"ELSE '[]' END) AS {alias}"
        )

    def member(self, alias: str, key: str) -> str:
        """The text of `key` in the JSON object `alias` (NULL when it is no object)."""
        if self.postgresql:
            return f"({alias}.value ->> {literal(key)})"
        path = literal("$." + key)
        return f"(CASE WHEN {alias}.type = 'object' THEN json_extract({alias}.value, {path}) END)"

    def element_text(self, alias: str) -> str:
        """A JSON list element as text (a string without its quotes)."""
        return f"({alias}.value #>> '{{}}')" if self.postgresql else f"{alias}.value"

    def list_not_empty(self, column: str) -> str:
        """What the ORM's ~Q(field=[]) says: the JSON value is not the empty list."""
        if self.postgresql:
            return f"{column} <> '[]'::jsonb"
        return f"json({column}) <> '[]'"

    def strip(self, expr: str) -> str:
        """Python's str.strip() for the whitespace reasons can carry."""
        if self.postgresql:
            return f"btrim({expr}, ' ' || chr(9) || chr(10) || chr(13))"
        return f"trim({expr}, ' ' || char(9) || char(10) || char(13))"


def dialect() -> Dialect:
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"the rollups support PostgreSQL and SQLite, not {vendor}")
    return Dialect(postgresql=vendor == "postgresql")


def db_datetime(value: datetime) -> Any:
    """A datetime as the backend compares it (UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


# -- the rolled-up rows of a window -----------------------------------------------------


def rolled_rows(table: str, ranges: Sequence[tuple[str, datetime, datetime]]) -> tuple[str, list]:
    """The condition selecting rollup rows of each (granularity, start, end) range."""
    parts, params = [], []
    for granularity, start, end in ranges:
        if granularity not in RollupGranularity.values:
            raise ValueError(f"unknown granularity {granularity!r}")
        parts.append(
            f"({table}.granularity = '{granularity}' AND {table}.bucket_start >= %s"
            f" AND {table}.bucket_start < %s)"
        )
        params += [db_datetime(start), db_datetime(end)]
    return (" OR ".join(parts) if parts else "1 = 0"), params


# -- decisions ----------------------------------------------------------------------------

DECISION_DIMENSIONS = ("agent_key", "strategy", "outcome", "model_used", "provider")
DECISION_MEASURES = (
    "decisions",
    "cost_usd",
    "fallback_tax_usd",
    "prompt_tokens",
    "completion_tokens",
    "cached",
    "with_pii",
    "forced_local",
    "refused_privacy",
)
DECISION_COLUMNS = ("bucket_start", *DECISION_DIMENSIONS, *DECISION_MEASURES)


def decision_sums(sql: Dialect, granularity: str, source: Source) -> str:
    """DecisionRollup rows (DECISION_COLUMNS) of the decisions of `source`."""
    has_pii = sql.list_not_empty("d.pii_types")
    dimensions = ", ".join(f"d.{name}" for name in DECISION_DIMENSIONS)
    return f"""SELECT {sql.bucket("d.created_at", granularity)} AS bucket_start, {dimensions},
        COUNT(*) AS decisions,
        SUM(d.cost_usd) AS cost_usd,
        SUM(d.fallback_tax_usd) AS fallback_tax_usd,
        SUM(d.prompt_tokens) AS prompt_tokens,
        SUM(d.completion_tokens) AS completion_tokens,
        SUM(CASE WHEN d.cached THEN 1 ELSE 0 END) AS cached,
        SUM(CASE WHEN {has_pii} THEN 1 ELSE 0 END) AS with_pii,
        SUM(CASE WHEN d.local_only THEN 1 ELSE 0 END) AS forced_local,
        SUM(CASE WHEN d.outcome = 'refused' AND ({has_pii} OR d.local_only) THEN 1 ELSE 0 END)
            AS refused_privacy
    FROM {source.from_item} {source.where_sql()}
    GROUP BY 1, 2, 3, 4, 5, 6"""  # noqa: S608 (our constants; values are bound)


# -- attempts -----------------------------------------------------------------------------

ATTEMPT_COLUMNS = ("bucket_start", "model", "reason_bucket", "attempts")
_MODEL_CHARS = AttemptRollup._meta.get_field("model").max_length


def _reason_bucket_case(reason: str) -> str:
    """routing.rejection_reasons.reason_bucket, on an already stripped, lower-cased and
    stream-prefix-free reason."""
    whens = " ".join(
        f"WHEN substr({reason}, 1, {len(prefix)}) = {literal(prefix)} THEN {literal(bucket)}"
        for prefix, bucket in REASON_PREFIXES
    )
    return f"CASE {whens} ELSE {literal(OTHER)} END"


def attempt_sums(sql: Dialect, granularity: str, source: Source) -> str:
    """AttemptRollup rows (ATTEMPT_COLUMNS) of the attempts of the decisions of `source`:
    reason_bucket "" for an accepted answer (outcome "success"), else its bucket."""
    model = sql.member("a", "model")
    raw_reason = sql.member("a", "reason")
    reason = "lower(" + sql.strip(f"COALESCE({raw_reason}, '')") + ")"
    prefix = literal(STREAM_FAILED)
    return f"""SELECT x.bucket_start, x.model,
        CASE WHEN x.outcome = 'success' THEN '' ELSE {_reason_bucket_case("x.reason")} END
            AS reason_bucket,
        COUNT(*) AS attempts
    FROM (
        SELECT y.bucket_start, y.model, y.outcome,
            CASE WHEN substr(y.reason, 1, {len(STREAM_FAILED)}) = {prefix}
                THEN substr(y.reason, {len(STREAM_FAILED) + 1}) ELSE y.reason END AS reason
        FROM (
            SELECT {sql.bucket("d.created_at", granularity)} AS bucket_start,
                substr(COALESCE(NULLIF({model}, ''), '?'), 1, {_MODEL_CHARS}) AS model,
                {sql.member("a", "outcome")} AS outcome,
                {reason} AS reason
            FROM {source.from_item} {sql.json_rows("d.attempts", "a")} {source.where_sql()}
        ) y
    ) x
    GROUP BY 1, 2, 3"""  # noqa: S608 (our constants; values are bound)


# -- PII types ----------------------------------------------------------------------------

PII_TYPE_COLUMNS = ("bucket_start", "pii_type", "decisions")
_PII_TYPE_CHARS = PiiTypeRollup._meta.get_field("pii_type").max_length


def pii_type_sums(sql: Dialect, granularity: str, source: Source) -> str:
    """PiiTypeRollup rows (PII_TYPE_COLUMNS): decisions of `source` per PII type found."""
    text = sql.element_text("p")
    return f"""SELECT {sql.bucket("d.created_at", granularity)} AS bucket_start,
        substr({text}, 1, {_PII_TYPE_CHARS}) AS pii_type,
        COUNT(DISTINCT d.id) AS decisions
    FROM {source.from_item} {sql.json_rows("d.pii_types", "p")}
    {source.where_sql(f"{text} IS NOT NULL")}
    GROUP BY 1, 2"""  # noqa: S608 (our constants; values are bound)


# -- latency ------------------------------------------------------------------------------

LATENCY_COLUMNS = ("bucket_start", "model", "lower_ms", "answers")
# What the latency series measures: answers, not cache hits (their ~0 ms would drag the
# percentiles down).
ANSWERED = "d.outcome = 'success' AND NOT d.cached AND d.model_used <> ''"


def _bin_case(column: str, edges: Sequence[int]) -> str:
    """The largest edge <= column, by binary search: 8 comparisons a row, not 140."""
    if len(edges) == 1:
        return str(edges[0])
    middle = len(edges) // 2
    low, high = _bin_case(column, edges[:middle]), _bin_case(column, edges[middle:])
    return f"CASE WHEN {column} < {edges[middle]} THEN {low} ELSE {high} END"


LATENCY_BIN_SQL = _bin_case("d.latency_ms", LATENCY_BIN_EDGES_MS)


def latency_sums(sql: Dialect, granularity: str, source: Source) -> str:
    """LatencyRollup rows (LATENCY_COLUMNS): answers of `source` per model and bin."""
    return f"""SELECT {sql.bucket("d.created_at", granularity)} AS bucket_start,
        d.model_used AS model, {LATENCY_BIN_SQL} AS lower_ms, COUNT(*) AS answers
    FROM {source.from_item} {source.where_sql(ANSWERED)}
    GROUP BY 1, 2, 3"""  # noqa: S608 (our constants; values are bound)


@dataclass(frozen=True)
class RollupTable:
    """A rollup table and the SELECT that makes its rows."""

    table: str
    columns: tuple[str, ...]
    select: Callable[[Dialect, str, Source], str]


ROLLUP_TABLES = (
    RollupTable(DecisionRollup._meta.db_table, DECISION_COLUMNS, decision_sums),
    RollupTable(AttemptRollup._meta.db_table, ATTEMPT_COLUMNS, attempt_sums),
    RollupTable(PiiTypeRollup._meta.db_table, PII_TYPE_COLUMNS, pii_type_sums),
    RollupTable(LatencyRollup._meta.db_table, LATENCY_COLUMNS, latency_sums),
)
