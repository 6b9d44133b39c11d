"""Celery tasks of the routing app: thin, each calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from routing.services.batches import batch_fail, batch_run
from routing.services.health import models_probe
from routing.services.overrides import overrides_expire
from routing.services.retention import retention_prune
from routing.services.rollups import decisions_rollup


@shared_task(ignore_result=True)
def expire_overrides() -> int:
    """Record the end of every override past its expiry. No retry: beat runs it again
    within a minute, and a run that overlaps another closes nothing twice."""
    return overrides_expire(timezone.now())


@shared_task(ignore_result=True)
def probe_models() -> dict[str, object]:
    """Probe every enabled model's endpoint (routing.services.health). No retry: beat
    runs it again within a probe interval, and an overlapping run only repeats it."""
    return models_probe(timezone.now()).as_dict()


@shared_task(ignore_result=True)
def prune_decisions() -> dict[str, object]:
    """Archive and delete decisions, and delete finished batch jobs, past their retention
    (routing.services.retention). No retry: a run that stopped half way is finished by
    the next."""
    return retention_prune(timezone.now()).as_dict()


@shared_task(bind=True, acks_late=True, max_retries=3, ignore_result=True)
def route_batch(self: Any, job_id: int) -> dict[str, object]:
    """Route a batch job's requests (routing.services.batches). Safe to run again: a
    retry or a redelivery skips the items already finished. One request failing is
    recorded by the service and the rest go on; what escapes it (the database going
    away) is retried with backoff, and after the last try the job is marked failed."""
    try:
        return batch_run(job_id).as_dict()
    except Exception as exc:
        tries = self.request.retries + 1
        if tries > self.max_retries:
            batch_fail(job_id, tries=tries, error=exc)
            raise
        raise self.retry(exc=exc, countdown=5 * 2**self.request.retries) from exc


@shared_task(ignore_result=True)
def rollup_decisions() -> dict[str, object]:
    """Roll decisions up into per-minute, hourly and daily rows for the dashboard
    (routing.services.rollups). No retry: each run recomputes whole buckets from the
    decisions, so the next one (a minute later) repairs whatever this one missed."""
    return decisions_rollup(timezone.now()).as_dict()
