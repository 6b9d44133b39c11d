"""Roll decisions up into per-minute, hourly and daily rows (routing.models.rollups).

A run recomputes whole buckets from the decision table, set-based: for each granularity
and each rollup table, one DELETE of the bucket range and one INSERT ... SELECT ...
GROUP BY over the decisions of that range (routing.rollup_sql), all in one transaction.
So a run can be repeated, or overlap another, and nothing is counted twice: the
watermark row is locked first, so concurrent runs take turns, and a bucket is always
replaced whole.

What a run covers:
- it rolls up to `rolled_until` = now - GRACE, floored to the minute, and only closed
  buckets: minutes before it, hours and days that ended by then;
- it starts LOOKBACK before the previous watermark, so a decision committed late (a
  decision is written when its request ends, and its transaction commits a moment
  later) is counted by the next run, as long as it is not older than that;
- the first run starts at the first decision's day; `since` starts anywhere (after a
  backfill such as `generate_decisions`). Hour and day rows are rebuilt from the
  decisions, so `since` must not reach back past the decision retention.

Minute rows older than SWITCHBOARD_ROLLUP_MINUTE_RETENTION_DAYS are deleted, and never
rebuilt that far back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from routing.models import Decision, RollupGranularity, RollupWatermark
from routing.rollup_sql import ROLLUP_TABLES, Source, db_datetime, dialect

WATERMARK = "decisions"
# Decisions younger than this are left to the live tail: their requests may still be
# committing their audit rows.
GRACE = timedelta(minutes=2)
# How far before the last watermark each run starts again, for rows committed late.
LOOKBACK = timedelta(minutes=15)

MINUTE, HOUR, DAY = RollupGranularity.MINUTE, RollupGranularity.HOUR, RollupGranularity.DAY


def floor_minute(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(second=0, microsecond=0)


def floor_hour(when: datetime) -> datetime:
    return floor_minute(when).replace(minute=0)


def floor_day(when: datetime) -> datetime:
    return floor_hour(when).replace(hour=0)


@dataclass
class RollupRun:
    """What one run did: the ranges it rebuilt, the rows it wrote, what it pruned."""

    rolled_until: datetime | None
    ranges: dict[str, tuple[str, str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    pruned_minute_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rolled_until"] = self.rolled_until.isoformat() if self.rolled_until else None
        return data


def rollup_watermark() -> datetime | None:
    """Every decision before this is in the rollups (None: never rolled up). One query."""
    return (
        RollupWatermark.objects.filter(name=WATERMARK)
        .values_list("rolled_until", flat=True)
        .first()
    )


def _locked_watermark() -> RollupWatermark:
    # ignore_conflicts: two first runs at once both try to create the row; one wins,
    # and the lock below makes the other wait for it.
    RollupWatermark.objects.bulk_create([RollupWatermark(name=WATERMARK)], ignore_conflicts=True)
    return RollupWatermark.objects.select_for_update().get(name=WATERMARK)


def _first_decision_at() -> datetime | None:
    return Decision.objects.order_by("created_at").values_list("created_at", flat=True).first()


def _rebuild(granularity: str, start: datetime, end: datetime) -> int:
    """Replace every row of `granularity` with buckets in [start, end) by the sums of the
    decisions created in that range. Returns the rows written."""
    sql = dialect()
    bounds = [db_datetime(start), db_datetime(end)]
    source = Source(f"{Decision._meta.db_table} d", "d.created_at >= %s AND d.created_at < %s")
    written = 0
    with connection.cursor() as cursor:
        for target in ROLLUP_TABLES:
            cursor.execute(
                f"DELETE FROM {target.table} WHERE granularity = %s"  # noqa: S608 (our table names)
                " AND bucket_start >= %s AND bucket_start < %s",
                [granularity, *bounds],
            )
            columns = ", ".join(target.columns)
            cursor.execute(
                f"INSERT INTO {target.table} (granularity, {columns})"  # noqa: S608 (as above)
                f" SELECT %s, s.* FROM ({target.select(sql, granularity, source)}) s",
                [granularity, *bounds],
            )
            written += max(cursor.rowcount, 0)
    return written


def _prune_minutes(horizon: datetime) -> int:
    pruned = 0
    with connection.cursor() as cursor:
        for target in ROLLUP_TABLES:
            cursor.execute(
                f"DELETE FROM {target.table} WHERE granularity = %s"  # noqa: S608 (our table names)
                " AND bucket_start < %s",
                [MINUTE, db_datetime(horizon)],
            )
            pruned += max(cursor.rowcount, 0)
    return pruned


def decisions_rollup(now: datetime, *, since: datetime | None = None) -> RollupRun:
    """Bring the rollups up to date at `now` (see the module's docstring)."""
    until = floor_minute(now - GRACE)
    horizon = floor_minute(now - timedelta(days=settings.SWITCHBOARD_ROLLUP_MINUTE_RETENTION_DAYS))
    with transaction.atomic():
        mark = _locked_watermark()
        start = since
        if start is None and mark.rolled_until is not None:
            start = mark.rolled_until - LOOKBACK
        if start is None:
            start = _first_decision_at()
        run = RollupRun(rolled_until=until)
        if start is not None:
            ranges = {
                MINUTE: (max(floor_minute(start), horizon), until),
                HOUR: (floor_hour(start), floor_hour(until)),
                DAY: (floor_day(start), floor_day(until)),
            }
            for granularity, (low, high) in ranges.items():
                if low < high:
                    run.ranges[granularity.value] = (low.isoformat(), high.isoformat())
                    run.rows[granularity.value] = _rebuild(granularity, low, high)
        run.pruned_minute_rows = _prune_minutes(horizon)
        # Never backwards: a run with an older `now` must not hide what a later one rolled.
        if mark.rolled_until is None or until > mark.rolled_until:
            mark.rolled_until = until
            mark.save(update_fields=["rolled_until", "updated_at"])
        run.rolled_until = mark.rolled_until
    return run
