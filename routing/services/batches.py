"""Batch routing jobs: many route requests submitted at once (`POST /api/route/batch`)
and routed by a Celery worker, one after another.

Each item goes through `routing.services.route.route`, the very path of `POST /api/route`:
the same decision, execution, spend accounting and exactly one audit row, under the key
that submitted the batch. What the item stores is the status and body `/api/route`
would have answered with, so a caller reads the same answer either way.

Items run sequentially within a job: a batch is throughput work, and one worker per job
keeps it from crowding out interactive traffic on the same upstreams; several jobs run
in parallel on several workers.

Safe to run again (acks_late redelivers a job whose worker died): finished items are
skipped, an item is recorded only while it is unfinished (a conditional UPDATE), and the
progress counters move with that UPDATE in one transaction (F() expressions), so a
re-run or a duplicate delivery never counts an item twice. What it cannot undo is a
worker dying between an item's audit row and its result: that one item is routed again
on the re-run (a second audit row), because its audit row is written by the route path's
own transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from routing.api import errors
from routing.choices import ApiScope
from routing.models import ApiKey, BatchItem, BatchJob, BatchStatus
from routing.services.route import route

logger = logging.getLogger(__name__)

# Not a code /api/route answers with in its envelope (it would be a bare 500 there): an
# item that broke Switchboard itself, recorded so the rest of the batch still runs.
INTERNAL_ERROR = "internal_error"
MSG_INTERNAL = "Switchboard failed while routing this request (see its logs); submit it again."
MSG_KEY_GONE = (
    "The API key that submitted this batch was revoked or lost the 'route' scope before "
    "all its requests ran; {count} were answered 401 or 403 instead of being routed."
)
MSG_GAVE_UP = "The worker gave up on this batch after {tries} tries: {error}"
ITEMS_PER_READ = 50  # unfinished items read per query: bounded memory, few queries


@dataclass(frozen=True)
class BatchRun:
    """What one run of a job did."""

    job_id: int
    status: str  # the job's status after the run ("missing" if it was deleted)
    routed: int  # items this run finished
    refused: int  # of those, answered 401/403 because the key was revoked

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# -- submitting ---------------------------------------------------------------------------


def batch_create(requests: Sequence[Mapping[str, Any]], *, api_key: ApiKey) -> BatchJob:
    """Store a job and its (already validated) requests, and queue it once committed."""
    # Imported here: routing.tasks imports this module for the task's service.
    from routing.tasks import route_batch

    with transaction.atomic():
        job = BatchJob.objects.create(
            api_key=api_key, api_key_name=api_key.name, total=len(requests)
        )
        BatchItem.objects.bulk_create(
            BatchItem(job=job, index=index, request=_json(request))
            for index, request in enumerate(requests)
        )
        # A worker that picked the job up before the commit would not find it.
        route_batch.delay_on_commit(job.pk)
    return job


# -- running ------------------------------------------------------------------------------


def batch_run(job_id: int) -> BatchRun:
    """Route every unfinished item of the job, then mark it done (or failed, when its
    key was revoked on the way)."""
    now = timezone.now()
    BatchJob.objects.filter(pk=job_id, status=BatchStatus.QUEUED).update(
        status=BatchStatus.RUNNING, started_at=now
    )
    job = BatchJob.objects.select_related("api_key__default_agent").filter(pk=job_id).first()
    if job is None:
        return BatchRun(job_id, "missing", 0, 0)
    if job.status != BatchStatus.RUNNING:
        return BatchRun(job.pk, job.status, 0, 0)
    routed = refused = 0
    for item in _unfinished(job):
        refusal = _key_refusal(job)
        status, body = refusal if refusal is not None else _route_one(job, item)
        if _item_finish(job, item, status, body):
            routed += 1
            refused += refusal is not None
    error = MSG_KEY_GONE.format(count=refused) if refused else ""
    return BatchRun(job.pk, _job_finish(job.pk, error), routed, refused)


def batch_fail(job_id: int, *, tries: int, error: BaseException) -> None:
    """The task gave up: the job ends as failed, its unrouted items without a result."""
    message = MSG_GAVE_UP.format(tries=tries, error=f"{type(error).__name__}: {error}")
    BatchJob.objects.filter(pk=job_id, status__in=[BatchStatus.QUEUED, BatchStatus.RUNNING]).update(
        status=BatchStatus.FAILED, finished_at=timezone.now(), error=message
    )


def _unfinished(job: BatchJob) -> Iterator[BatchItem]:
    pending = (
        BatchItem.objects.filter(job=job, finished_at__isnull=True)
        .order_by("index")
        .values_list("pk", flat=True)
    )
    pks = list(pending)
    for start in range(0, len(pks), ITEMS_PER_READ):
        chunk = pks[start : start + ITEMS_PER_READ]
        items = BatchItem.objects.filter(pk__in=chunk, finished_at__isnull=True)
        yield from items.order_by("index")


def _key_refusal(job: BatchJob) -> tuple[int, dict[str, Any]] | None:
    """What /api/route would answer the submitting key now, if it may no longer route:
    checked before every item, so revoking a key stops its batch too."""
    scopes = (
        ApiKey.objects.filter(pk=job.api_key_id, is_active=True)
        .values_list("scopes", flat=True)
        .first()
    )
    if scopes is None:  # revoked, or deleted (the job's key is then null)
        return 401, errors.envelope(errors.UNAUTHENTICATED, errors.MSG_BAD_KEY)
    if ApiScope.ROUTE not in scopes:
        message = errors.MSG_FORBIDDEN.format(scope=ApiScope.ROUTE.value)
        return 403, errors.envelope(errors.FORBIDDEN, message)
    return None


def _route_one(job: BatchJob, item: BatchItem) -> tuple[int, dict[str, Any]]:
    """The status and body /api/route would have answered this request with."""
    try:
        return 200, _json(route(item.request, api_key=job.api_key))
    except errors.ApiError as exc:
        body = errors.envelope(exc.error_code, exc.message, exc.details, exc.decision_id)
        return exc.status_code, _json(body)
    except Exception:  # one request that breaks must not stop the rest of the batch
        logger.exception("batch %s: item %s failed", job.public_id, item.index)
        return 500, errors.envelope(INTERNAL_ERROR, MSG_INTERNAL)


def _item_finish(job: BatchJob, item: BatchItem, status: int, body: dict[str, Any]) -> bool:
    """Record an item's result and count it, once: False if it was already finished (a
    duplicate delivery got there first)."""
    fields: dict[str, Any] = {
        "status_code": status,
        "response": body,
        "decision_id": (body.get("error") or body).get("decision_id"),
        "finished_at": timezone.now(),
    }
    if not settings.SWITCHBOARD_STORE_FULL_PROMPTS:
        # The prompt is not kept once routed: its audit row holds a PII-masked excerpt.
        fields["request"] = {k: v for k, v in item.request.items() if k != "messages"}
    with transaction.atomic():
        updated = BatchItem.objects.filter(pk=item.pk, finished_at__isnull=True).update(**fields)
        if updated:
            BatchJob.objects.filter(pk=job.pk).update(
                completed=F("completed") + 1, failed=F("failed") + int(status >= 400)
            )
    return bool(updated)


def _job_finish(job_id: int, error: str) -> str:
    """Mark a running job whose every item finished as done (failed with `error`); return
    its status."""
    BatchJob.objects.filter(pk=job_id, status=BatchStatus.RUNNING, completed=F("total")).update(
        status=BatchStatus.FAILED if error else BatchStatus.DONE,
        finished_at=timezone.now(),
        error=error,
    )
    return BatchJob.objects.values_list("status", flat=True).get(pk=job_id)


def _json(value: Any) -> Any:
    """`value` exactly as the API renders it (decimals, UUIDs and times as JSON)."""
    return json.loads(JSONRenderer().render(value))
