"""Retention: delete audit rows older than SWITCHBOARD_DECISION_RETENTION_DAYS (0 keeps
them forever), first writing them to SWITCHBOARD_DECISION_ARCHIVE_DIR when set; and
batch jobs finished (done, failed or cancelled) longer ago than
SWITCHBOARD_BATCH_RETENTION_DAYS, with their items, whose results can hold whole
answers (0 keeps them). A job that may still run is never deleted. `retention_prune`
does both in one run.

The only place decisions and batch jobs are ever deleted. Rows go in bounded batches by
primary key, each batch its own short transaction, so a table is never locked for long
and a run that stops half way leaves consistent tables; the next run carries on.

Archive: one file per day of `created_at`, `decisions-YYYY-MM-DD.jsonl.gz`, one JSON
object per row (every column). Each batch is appended as a complete gzip member and
synced to disk before its rows are deleted, so a row is never deleted unarchived. If a
run dies between the two, the next run archives those rows again: readers should keep
the first line per `public_id`.

Runs never overlap: PostgreSQL's advisory lock (on other databases, a lock in the
shared cache) lets one run at a time through; another returns at once.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from routing.models import BatchItem, BatchJob, Decision
from routing.models.jobs import BATCH_FINISHED

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Batch jobs deleted per transaction: each carries up to SWITCHBOARD_BATCH_MAX_REQUESTS
# items (100 by default), deleted with it.
JOBS_PER_BATCH = 50
# An arbitrary constant naming this job's advisory lock ("sbretain").
ADVISORY_LOCK_ID = 0x7362726574616E
CACHE_LOCK_KEY = "routing:retention:lock"
CACHE_LOCK_SECONDS = 3600  # longer than any run; freed at the end of each


@dataclass
class PruneResult:
    cutoff: datetime | None = None  # decisions created before it were deleted
    deleted: int = 0  # decisions
    archived: int = 0
    batches: int = 0  # DELETE batches of decisions
    files: list[str] = field(default_factory=list)
    skipped: str = ""  # why nothing was done, when nothing was (per kind, "; "-joined)
    batch_job_cutoff: datetime | None = None  # jobs finished before it were deleted
    batch_jobs_deleted: int = 0
    batch_items_deleted: int = 0

    def skip(self, reason: str) -> None:
        self.skipped = f"{self.skipped}; {reason}" if self.skipped else reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "deleted": self.deleted,
            "archived": self.archived,
            "batches": self.batches,
            "files": self.files,
            "skipped": self.skipped,
            "batch_job_cutoff": (
                self.batch_job_cutoff.isoformat() if self.batch_job_cutoff else None
            ),
            "batch_jobs_deleted": self.batch_jobs_deleted,
            "batch_items_deleted": self.batch_items_deleted,
        }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"cannot archive a {type(value).__name__}")


def archive_path(directory: Path, day: date) -> Path:
    return directory / f"decisions-{day.isoformat()}.jsonl.gz"


def _archive(directory: Path, rows: list[dict[str, Any]]) -> list[Path]:
    """Append the rows to their days' files, each as one gzip member, synced to disk."""
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[row["created_at"].date()].append(row)
    written = []
    for day, day_rows in sorted(by_day.items()):
        lines = "".join(
            json.dumps(r, default=_json_default, sort_keys=True) + "\n" for r in day_rows
        )
        path = archive_path(directory, day)
        # One write of a whole member: concatenated members are one valid gzip stream.
        with path.open("ab") as out:
            out.write(gzip.compress(lines.encode()))
            out.flush()
            os.fsync(out.fileno())
        written.append(path)
    return written


@contextlib.contextmanager
def _exclusive() -> Iterator[bool]:
    """True when this run holds the retention lock (for its whole duration)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_ID])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_ID])
        return
    held = cache.add(CACHE_LOCK_KEY, os.getpid(), timeout=CACHE_LOCK_SECONDS)
    try:
        yield held
    finally:
        if held:
            cache.delete(CACHE_LOCK_KEY)


def _prune_batch(
    cutoff: datetime, batch_size: int, archive_dir: Path | None
) -> tuple[int, int, list[Path]]:
    """Archive and delete the oldest batch before the cutoff: (deleted, archived, files)."""
    with transaction.atomic():
        old = Decision.objects.filter(created_at__lt=cutoff).order_by("created_at", "id")
        if archive_dir is None:
            ids = list(old.values_list("id", flat=True)[:batch_size])
            rows: list[dict[str, Any]] = []
        else:
            rows = list(old.values()[:batch_size])
            ids = [r["id"] for r in rows]
        if not ids:
            return 0, 0, []
        files = _archive(archive_dir, rows) if archive_dir is not None else []
        deleted, _ = Decision.objects.filter(id__in=ids).delete()
    return deleted, len(rows), files


def _prune_jobs_batch(cutoff: datetime, jobs_per_batch: int) -> tuple[int, int]:
    """Delete the first finished jobs (by id) that ended before the cutoff, with their
    items: (jobs, items)."""
    with transaction.atomic():
        ids = list(
            BatchJob.objects.filter(status__in=BATCH_FINISHED, finished_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:jobs_per_batch]
        )
        if not ids:
            return 0, 0
        # The items go by one DELETE on their job ids (the cascade loads none of them).
        _, counts = BatchJob.objects.filter(id__in=ids).delete()
    return counts.get(BatchJob._meta.label, 0), counts.get(BatchItem._meta.label, 0)


def _prune_decisions(
    result: PruneResult, now: datetime, days: int, target: Path | None, batch_size: int
) -> None:
    if days <= 0:
        result.skip("retention is 0 days: decisions are kept forever")
        return
    result.cutoff = now - timedelta(days=days)
    while True:
        deleted, archived, files = _prune_batch(result.cutoff, batch_size, target)
        if not deleted and not archived:
            break
        result.batches += 1
        result.deleted += deleted
        result.archived += archived
        result.files.extend(str(f) for f in files if str(f) not in result.files)
        if deleted < batch_size and archived < batch_size:
            break  # that was the last, partial batch
    logger.info(
        "decision retention: deleted %d decisions older than %s in %d batches (%d archived)",
        result.deleted,
        result.cutoff.isoformat(),
        result.batches,
        result.archived,
        extra=result.as_dict(),
    )


def _prune_batch_jobs(result: PruneResult, now: datetime, days: int, jobs_per_batch: int) -> None:
    if days <= 0:
        result.skip("retention is 0 days: batch jobs are kept forever")
        return
    result.batch_job_cutoff = now - timedelta(days=days)
    while True:
        jobs, items = _prune_jobs_batch(result.batch_job_cutoff, jobs_per_batch)
        result.batch_jobs_deleted += jobs
        result.batch_items_deleted += items
        if jobs < jobs_per_batch:
            break  # that was the last, partial batch
    logger.info(
        "batch job retention: deleted %d jobs (%d items) finished before %s",
        result.batch_jobs_deleted,
        result.batch_items_deleted,
        result.batch_job_cutoff.isoformat(),
        extra=result.as_dict(),
    )


def retention_prune(
    now: datetime,
    *,
    retention_days: int | None = None,
    archive_dir: str | Path | None = None,
    batch_size: int = BATCH_SIZE,
    batch_retention_days: int | None = None,
    jobs_per_batch: int = JOBS_PER_BATCH,
) -> PruneResult:
    """Delete (after archiving, when an archive directory is set) every decision created
    before `now` minus its retention, then every batch job finished before `now` minus
    its own. Idempotent; a concurrent run does nothing. Unset arguments come from the
    settings."""
    days = (
        settings.SWITCHBOARD_DECISION_RETENTION_DAYS if retention_days is None else retention_days
    )
    job_days = (
        settings.SWITCHBOARD_BATCH_RETENTION_DAYS
        if batch_retention_days is None
        else batch_retention_days
    )
    directory = (
        archive_dir if archive_dir is not None else settings.SWITCHBOARD_DECISION_ARCHIVE_DIR
    )
    result = PruneResult()
    target = Path(directory) if directory and days > 0 else None
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    with _exclusive() as held:
        if not held:
            result.skipped = "another retention run holds the lock"
            logger.info("retention: %s", result.skipped)
            return result
        _prune_decisions(result, now, days, target, batch_size)
        _prune_batch_jobs(result, now, job_days, jobs_per_batch)
    return result
