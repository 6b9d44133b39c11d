"""Decision retention: delete audit rows older than SWITCHBOARD_DECISION_RETENTION_DAYS
(0 keeps them forever), first writing them to SWITCHBOARD_DECISION_ARCHIVE_DIR when set.

The only place decisions are ever deleted. Rows go in bounded batches by primary key,
each batch its own short transaction, so the table is never locked for long and a run
that stops half way leaves a consistent table; the next run carries on.

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

from routing.models import Decision

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# An arbitrary constant naming this job's advisory lock ("sbretain").
ADVISORY_LOCK_ID = 0x7362726574616E
CACHE_LOCK_KEY = "routing:retention:lock"
CACHE_LOCK_SECONDS = 3600  # longer than any run; freed at the end of each


@dataclass
class PruneResult:
    cutoff: datetime | None = None
    deleted: int = 0
    archived: int = 0
    batches: int = 0
    files: list[str] = field(default_factory=list)
    skipped: str = ""  # why nothing was done, when nothing was

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "deleted": self.deleted,
            "archived": self.archived,
            "batches": self.batches,
            "files": self.files,
            "skipped": self.skipped,
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


def decisions_prune(
    now: datetime,
    *,
    retention_days: int | None = None,
    archive_dir: str | Path | None = None,
    batch_size: int = BATCH_SIZE,
) -> PruneResult:
    """Delete (after archiving, when an archive directory is set) every decision created
    before `now` minus the retention. Idempotent; a concurrent run does nothing."""
    days = (
        settings.SWITCHBOARD_DECISION_RETENTION_DAYS if retention_days is None else retention_days
    )
    directory = (
        archive_dir if archive_dir is not None else settings.SWITCHBOARD_DECISION_ARCHIVE_DIR
    )
    result = PruneResult()
    if days <= 0:
        result.skipped = "retention is 0 days: decisions are kept forever"
        logger.info("decision retention: %s", result.skipped)
        return result
    result.cutoff = now - timedelta(days=days)
    target = Path(directory) if directory else None
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    with _exclusive() as held:
        if not held:
            result.skipped = "another retention run holds the lock"
            logger.info("decision retention: %s", result.skipped)
            return result
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
    return result
