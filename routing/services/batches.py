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

Cancelling (`batch_cancel`) ends a queued or running job at once: its unrouted items get
a `cancelled` error and the job is final. The worker re-reads the job's status before
every item (in the query that already re-checks its key), so it routes nothing after
the cancel. The one item it may be routing at that moment still keeps its real result
(it has an audit row and spent money), replacing its `cancelled` mark.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from routing.api import errors
from routing.choices import ApiScope, ChangeSource
from routing.models import ApiKey, BatchItem, BatchJob, BatchStatus
from routing.models.jobs import BATCH_ACTIVE
from routing.services.change_log import change_log_record
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
# Like INTERNAL_ERROR, a code only a batch item carries: its batch was cancelled first.
CANCELLED = "cancelled"
CANCELLED_STATUS = 409  # the request conflicts with the state of its batch
MSG_ITEM_CANCELLED = (
    "Not routed: its batch was cancelled before this request ran. Submit it again, in a "
    "new batch, if it still needs an answer."
)
MSG_JOB_CANCELLED = "Cancelled by {by}; the requests it had not routed by then never will be."
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


class BatchFinished(Exception):
    """The job has already ended (done or failed): there is nothing left to cancel."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class _Standing(NamedTuple):
    """The job's status and its key's, as they are now (None: the row is gone)."""

    status: str | None
    key_active: bool | None
    key_scopes: list[str] | None


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
        standing = _standing(job)
        if standing.status != BatchStatus.RUNNING:
            break  # cancelled (or deleted) since: route nothing more
        refusal = _key_refusal(standing)
        status, body = refusal if refusal is not None else _route_one(job, item)
        if _item_finish(job, item, status, body):
            routed += 1
            refused += refusal is not None
    error = MSG_KEY_GONE.format(count=refused) if refused else ""
    return BatchRun(job.pk, _job_finish(job.pk, error), routed, refused)


def batch_fail(job_id: int, *, tries: int, error: BaseException) -> None:
    """The task gave up: the job ends as failed, its unrouted items without a result."""
    message = MSG_GAVE_UP.format(tries=tries, error=f"{type(error).__name__}: {error}")
    BatchJob.objects.filter(pk=job_id, status__in=BATCH_ACTIVE).update(
        status=BatchStatus.FAILED, finished_at=timezone.now(), error=message
    )


# -- cancelling ---------------------------------------------------------------------------


def batch_cancel(job: BatchJob, *, by: Any, source: ChangeSource) -> BatchJob:
    """Cancel a queued or running job: every item not yet routed ends with a `cancelled`
    error, the job as cancelled, and the worker routes no more of it. `by` is the user
    (or an API key's ServiceUser) who asked; the change log says who, and from where.

    Returns the job as it now stands. Cancelling a cancelled job changes nothing; a done
    or failed job raises BatchFinished."""
    label = by.get_username() if by is not None else "system"
    now = timezone.now()
    before = BatchJob.objects.filter(pk=job.pk).values("status", "completed", "total").first()
    if before is not None and before["status"] in BATCH_ACTIVE:
        with transaction.atomic():
            # Items first, then the job: the order in which the worker's `_item_finish`
            # locks the same rows, so the two never deadlock on PostgreSQL.
            # Not counted in completed/failed: those count routed requests only.
            unrouted = BatchItem.objects.filter(job_id=job.pk, finished_at__isnull=True).update(
                status_code=CANCELLED_STATUS,
                response=errors.envelope(CANCELLED, MSG_ITEM_CANCELLED),
                finished_at=now,
            )
            cancelled = BatchJob.objects.filter(pk=job.pk, status__in=BATCH_ACTIVE).update(
                status=BatchStatus.CANCELLED,
                finished_at=now,
                error=MSG_JOB_CANCELLED.format(by=label),
            )
            if cancelled:
                change_log_record(
                    action="batch_job.cancel",
                    target_type="batch_job",
                    target_key=str(job.public_id),
                    before=before,
                    after={"status": BatchStatus.CANCELLED.value, "cancelled_requests": unrouted},
                    source=source,
                    actor=by,
                    actor_label=label,
                )
            else:  # it ended (or was cancelled) since we looked: leave its items alone
                transaction.set_rollback(True)
    job.refresh_from_db()
    if job.status != BatchStatus.CANCELLED:
        raise BatchFinished(job.status)
    return job


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


def _standing(job: BatchJob) -> _Standing:
    """Read before every item, in one query: a cancelled job stops, and a revoked key
    stops its batch too."""
    row = (
        BatchJob.objects.filter(pk=job.pk)
        .values_list("status", "api_key__is_active", "api_key__scopes")
        .first()
    )
    return _Standing(*row) if row is not None else _Standing(None, None, None)


def _key_refusal(standing: _Standing) -> tuple[int, dict[str, Any]] | None:
    """What /api/route would answer the submitting key now, if it may no longer route."""
    if not standing.key_active:  # revoked, or deleted (the job's key is then null)
        return 401, errors.envelope(errors.UNAUTHENTICATED, errors.MSG_BAD_KEY)
    if ApiScope.ROUTE not in (standing.key_scopes or ()):
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
    duplicate delivery got there first). An item marked cancelled while it was being
    routed takes its real result: it was routed, and has its audit row."""
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
        open_or_cancelled = Q(finished_at__isnull=True) | Q(response__error__code=CANCELLED)
        updated = BatchItem.objects.filter(open_or_cancelled, pk=item.pk).update(**fields)
        if updated:
            BatchJob.objects.filter(pk=job.pk).update(
                completed=F("completed") + 1, failed=F("failed") + int(status >= 400)
            )
    return bool(updated)


def _job_finish(job_id: int, error: str) -> str:
    """Mark a running job whose every item finished as done (failed with `error`); return
    its status ("missing" if it was deleted meanwhile)."""
    BatchJob.objects.filter(pk=job_id, status=BatchStatus.RUNNING, completed=F("total")).update(
        status=BatchStatus.FAILED if error else BatchStatus.DONE,
        finished_at=timezone.now(),
        error=error,
    )
    status = BatchJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    return status or "missing"


def _json(value: Any) -> Any:
    """`value` exactly as the API renders it (decimals, UUIDs and times as JSON)."""
    return json.loads(JSONRenderer().render(value))
