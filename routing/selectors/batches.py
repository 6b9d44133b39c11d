"""Reads of batch routing jobs, for the API (`GET /api/route/batch/{id}`) and the
dashboard's batch pages."""

from __future__ import annotations

import uuid

from routing.models import BatchItem, BatchJob

RECENT_JOBS = 50


def batch_get(public_id: str | uuid.UUID) -> BatchJob | None:
    """One job by its public id; None for no such job or an id that is not a UUID."""
    try:
        key = public_id if isinstance(public_id, uuid.UUID) else uuid.UUID(str(public_id))
    except ValueError:
        return None
    return BatchJob.objects.filter(public_id=key).first()


def batch_items(job: BatchJob, *, offset: int, limit: int) -> list[BatchItem]:
    """A page of a job's items in submission order, without the requests (only results
    are shown, and a request can be large)."""
    rows = (
        BatchItem.objects.filter(job=job)
        .order_by("index")
        .only("index", "status_code", "response", "decision_id", "finished_at")
    )
    return list(rows[offset : offset + limit])


def batch_recent(limit: int = RECENT_JOBS) -> list[BatchJob]:
    """The newest jobs, newest first (the `batch_recent` index)."""
    return list(BatchJob.objects.order_by("-created_at", "-id")[:limit])
