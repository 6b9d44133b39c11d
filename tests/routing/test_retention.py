"""Retention: decisions past the cutoff are archived (when asked) and deleted in bounded
batches; newer rows, and every row under "keep forever", stay. Batch jobs finished
before their own cutoff go too, with their items; newer and unfinished jobs stay."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from routing.models import BatchItem, BatchJob, Decision
from routing.services.retention import _exclusive, archive_path, retention_prune
from routing.tasks import prune_decisions
from tests.factories import make_decision

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


def _decision(days_ago: float, **fields) -> Decision:
    return make_decision(created_at=NOW - timedelta(days=days_ago), **fields)


def _job(status: str, finished_days_ago: float | None, items: int = 2) -> BatchJob:
    """A job created 100 days ago (so only its end decides), with `items` routed items."""
    job = BatchJob.objects.create(
        created_at=NOW - timedelta(days=100),
        status=status,
        total=items,
        completed=items if finished_days_ago is not None else 0,
        finished_at=None if finished_days_ago is None else NOW - timedelta(days=finished_days_ago),
    )
    BatchItem.objects.bulk_create(
        BatchItem(job=job, index=n, request={}, status_code=200, response={"content": "x" * 100})
        for n in range(items)
    )
    return job


def _lines(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def test_rows_older_than_the_cutoff_are_deleted_in_batches_and_newer_ones_kept() -> None:
    for days in (31, 32, 40, 45, 400):
        _decision(days)
    kept = [_decision(29), _decision(30 - 1 / 24)]

    with CaptureQueriesContext(connection) as queries:
        result = retention_prune(NOW, retention_days=30, archive_dir="", batch_size=2)

    assert result.cutoff == NOW - timedelta(days=30)
    assert (result.deleted, result.batches, result.archived) == (5, 3, 0)
    assert set(Decision.objects.values_list("id", flat=True)) == {d.id for d in kept}
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # one bounded DELETE per batch, by primary key
    # A second run finds nothing more to do.
    again = retention_prune(NOW, retention_days=30, archive_dir="", batch_size=2)
    assert (again.deleted, again.batches) == (0, 0)


def test_archived_rows_land_in_one_gzip_json_lines_file_per_day_before_deletion(
    tmp_path: Path,
) -> None:
    first = _decision(31, agent_key="writer", prompt_excerpt="[EMAIL] asked", pii_types=["email"])
    second = _decision(31.1, agent_key="coder")
    third = _decision(35)
    _decision(2)
    archive = tmp_path / "archive"

    result = retention_prune(NOW, retention_days=30, archive_dir=archive, batch_size=2)

    assert (result.deleted, result.archived, result.batches) == (3, 3, 2)
    day_31 = archive_path(archive, first.created_at.date())
    day_35 = archive_path(archive, third.created_at.date())
    assert sorted(archive.iterdir()) == sorted(
        {day_31, day_35, archive_path(archive, second.created_at.date())}
    )
    rows = {r["public_id"]: r for path in archive.iterdir() for r in _lines(path)}
    assert set(rows) == {str(first.public_id), str(second.public_id), str(third.public_id)}
    archived = rows[str(first.public_id)]
    assert archived["agent_key"] == "writer"
    assert archived["pii_types"] == ["email"]
    assert archived["prompt_excerpt"] == "[EMAIL] asked"
    assert archived["cost_usd"] == "0.00100000"
    assert datetime.fromisoformat(archived["created_at"]) == first.created_at
    assert Decision.objects.count() == 1


def test_a_later_run_appends_to_the_same_days_file(tmp_path: Path) -> None:
    one = _decision(31)
    retention_prune(NOW, retention_days=30, archive_dir=tmp_path)
    two = make_decision(created_at=one.created_at + timedelta(minutes=1))

    retention_prune(NOW, retention_days=30, archive_dir=tmp_path)

    (path,) = tmp_path.iterdir()
    assert [r["public_id"] for r in _lines(path)] == [str(one.public_id), str(two.public_id)]


def test_zero_days_keeps_every_decision_forever(tmp_path: Path) -> None:
    _decision(5000)

    result = retention_prune(NOW, retention_days=0, archive_dir=tmp_path)

    assert result.deleted == 0
    assert "forever" in result.skipped
    assert Decision.objects.count() == 1
    assert list(tmp_path.iterdir()) == []


@contextmanager
def _lock_held_by_another_run() -> Iterator[None]:
    """Hold the retention lock from another thread (its own database connection, as a
    second worker would)."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        from django.db import connection as own

        try:
            with _exclusive() as held:
                assert held
                taken.set()
                release.wait(10)
        finally:
            own.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def test_a_run_that_overlaps_another_does_nothing() -> None:
    _decision(100)

    with _lock_held_by_another_run():
        result = retention_prune(NOW, retention_days=30, archive_dir="")

    assert result.deleted == 0
    assert result.skipped == "another retention run holds the lock"
    assert Decision.objects.count() == 1
    assert retention_prune(NOW, retention_days=30, archive_dir="").deleted == 1


def test_the_task_prunes_with_the_settings(settings, tmp_path: Path) -> None:
    settings.SWITCHBOARD_DECISION_RETENTION_DAYS = 7
    settings.SWITCHBOARD_DECISION_ARCHIVE_DIR = str(tmp_path)
    make_decision(created_at=datetime.now(UTC) - timedelta(days=8))
    make_decision()

    result = prune_decisions.delay().get()

    assert (result["deleted"], result["archived"]) == (1, 1)
    assert Decision.objects.count() == 1
    assert len(list(tmp_path.iterdir())) == 1
    assert "prune-decisions" in settings.CELERY_BEAT_SCHEDULE


# -- batch jobs ---------------------------------------------------------------------------------


def test_finished_batch_jobs_past_the_cutoff_go_with_their_items_in_batches() -> None:
    old = [_job("done", 31), _job("failed", 45, items=3), _job("cancelled", 400, items=1)]
    kept = [
        _job("done", 29),  # finished too recently
        _job("cancelled", 30 - 1 / 24),
        _job("queued", None),  # never pruned, however old
        _job("running", None),
        _job("running", 90),  # unfinished, whatever its finished_at says
    ]

    with CaptureQueriesContext(connection) as queries:
        result = retention_prune(
            NOW, retention_days=0, archive_dir="", batch_retention_days=30, jobs_per_batch=2
        )

    assert result.batch_job_cutoff == NOW - timedelta(days=30)
    assert (result.batch_jobs_deleted, result.batch_items_deleted) == (3, 6)
    assert set(BatchJob.objects.values_list("id", flat=True)) == {j.id for j in kept}
    assert not BatchItem.objects.filter(job_id__in=[j.id for j in old]).exists()
    assert BatchItem.objects.count() == 2 * len(kept)
    sql = [q["sql"] for q in queries.captured_queries]
    # Two batches of at most two jobs, each one DELETE of items (by job id) and one of jobs.
    assert len([q for q in sql if q.startswith('DELETE FROM "routing_batchjob"')]) == 2
    assert len([q for q in sql if q.startswith('DELETE FROM "routing_batchitem"')]) == 2
    # The items, with their results, are never read to be deleted.
    assert not [q for q in sql if q.startswith("SELECT") and '"routing_batchitem"' in q]
    assert result.as_dict()["batch_jobs_deleted"] == 3
    assert result.skipped == "retention is 0 days: decisions are kept forever"
    again = retention_prune(NOW, retention_days=0, batch_retention_days=30)
    assert (again.batch_jobs_deleted, again.batch_items_deleted) == (0, 0)


def test_decisions_and_batch_jobs_are_pruned_in_one_run_each_by_its_own_retention() -> None:
    _decision(31)
    kept_decision = _decision(5)
    _job("done", 8)
    kept_job = _job("done", 6)

    result = retention_prune(NOW, retention_days=30, archive_dir="", batch_retention_days=7)

    assert (result.deleted, result.batch_jobs_deleted) == (1, 1)
    assert list(Decision.objects.values_list("id", flat=True)) == [kept_decision.id]
    assert list(BatchJob.objects.values_list("id", flat=True)) == [kept_job.id]
    assert result.skipped == ""


def test_zero_days_keeps_every_batch_job_forever() -> None:
    _job("done", 5000)

    result = retention_prune(NOW, retention_days=30, archive_dir="", batch_retention_days=0)

    assert result.batch_jobs_deleted == 0
    assert result.skipped == "retention is 0 days: batch jobs are kept forever"
    assert BatchJob.objects.count() == 1


def test_a_run_that_overlaps_another_deletes_no_batch_job() -> None:
    _job("done", 100)

    with _lock_held_by_another_run():
        result = retention_prune(NOW, retention_days=30, batch_retention_days=30)

    assert result.batch_jobs_deleted == 0
    assert BatchJob.objects.count() == 1


def test_the_task_prunes_batch_jobs_with_the_setting(settings) -> None:
    settings.SWITCHBOARD_BATCH_RETENTION_DAYS = 7
    settings.SWITCHBOARD_DECISION_ARCHIVE_DIR = ""
    old = BatchJob.objects.create(
        status="done", total=1, completed=1, finished_at=datetime.now(UTC) - timedelta(days=8)
    )
    BatchItem.objects.create(job=old, index=0, request={}, status_code=200, response={})
    recent = BatchJob.objects.create(status="done", total=0, finished_at=datetime.now(UTC))

    result = prune_decisions.delay().get()

    assert (result["batch_jobs_deleted"], result["batch_items_deleted"]) == (1, 1)
    assert list(BatchJob.objects.values_list("id", flat=True)) == [recent.id]
