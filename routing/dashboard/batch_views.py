"""Batch routing jobs in the dashboard: the recent jobs, and one job's progress and
per-request results, with a "Cancel job" button for operators while it can still run.

Both pages poll themselves with htmx while a job they show is queued or running, and
stop once nothing more can change: the last answer has no `hx-trigger` and status 286,
which tells htmx to swap it in and stop. First paint and refresh share one source, the
page's partial; cancelling answers with it too, so polling stops at once. Viewers and up
see them; cancelling takes an operator (routing.dashboard.access).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from routing.choices import ChangeSource
from routing.dashboard.access import OPERATOR, VIEWER, role_required
from routing.models import BatchItem, BatchJob
from routing.models.jobs import BATCH_ACTIVE
from routing.roles import has_role
from routing.selectors.batches import batch_get, batch_items, batch_recent
from routing.services import batches

MSG_NO_JOB = "No batch job has this id."
MSG_ALREADY_ENDED = "Nothing to cancel: the job had already ended ({status})."
ITEMS_PER_PAGE = 100
STOP_POLLING = 286  # htmx swaps this answer in and cancels the element's polling


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _partial(request: HtmxHttpRequest) -> bool:
    # A history restore (back button after the cache is gone) wants the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render(
    request: HtmxHttpRequest, template: str, part: str, context: dict[str, Any], *, polling: bool
) -> HttpResponse:
    if not _partial(request):
        return render(request, template, context)
    return render(request, f"{template}#{part}", context, status=200 if polling else STOP_POLLING)


# -- the list ----------------------------------------------------------------------------------


@require_GET
@role_required(VIEWER)
@vary_on_headers("HX-Request")
def batch_list(request: HtmxHttpRequest) -> HttpResponse:
    jobs = batch_recent()
    polling = any(job.status in BATCH_ACTIVE for job in jobs)
    context = {"jobs": jobs, "polling": polling}
    return _render(request, "dashboard/batches.html", "jobs", context, polling=polling)


# -- one job -----------------------------------------------------------------------------------


def _page_number(raw: str | None, pages: int) -> int:
    """?page= as a page that exists (the first for anything else)."""
    number = int(raw) if raw and raw.isdigit() else 1
    return min(max(number, 1), pages)


def _row(item: BatchItem) -> dict[str, Any]:
    """One item as its table row: what /api/route answered, in a few words."""
    body: Mapping[str, Any] = item.response if isinstance(item.response, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else None
    if item.status_code is None:
        state, summary = "pending", "not routed yet"
    elif error is not None and error.get("code") == batches.CANCELLED:
        state, summary = "cancelled", str(error.get("message", ""))
    elif error is not None:
        state, summary = "error", f"{error.get('code', '')}: {error.get('message', '')}"
    elif body.get("dry_run"):
        state, summary = "ok", "dry run: " + " > ".join(body.get("decision", {}).get("chain", []))
    else:
        state, summary = "ok", f"answered by {body.get('model_used', '?')}"
    return {
        "index": item.index,
        "status_code": item.status_code,
        "state": state,
        "summary": summary,
        "decision_id": item.decision_id,
        "finished_at": item.finished_at,
    }


def _job_context(request: HttpRequest, job: BatchJob, raw_page: str | None) -> dict[str, Any]:
    pages = max(1, -(-job.total // ITEMS_PER_PAGE))
    page = _page_number(raw_page, pages)
    first = (page - 1) * ITEMS_PER_PAGE
    items = batch_items(job, offset=first, limit=ITEMS_PER_PAGE)
    url = reverse("dashboard:batch", kwargs={"public_id": job.public_id})
    active = job.status in BATCH_ACTIVE
    return {
        "job": job,
        "active": active,
        # The role is only asked for (a query) while there is something to cancel.
        "can_cancel": active and has_role(request.user, OPERATOR),
        "rows": [_row(item) for item in items],
        "page": page,
        "pages": pages,
        "first_index": first,
        "last_index": first + len(items) - 1,
        "poll_url": f"{url}?page={page}" if page > 1 else url,
        "previous_url": f"{url}?page={page - 1}" if page > 1 else "",
        "next_url": f"{url}?page={page + 1}" if page < pages else "",
    }


@require_GET
@role_required(VIEWER)
@vary_on_headers("HX-Request")
def batch_detail(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    job = batch_get(public_id)
    if job is None:
        raise Http404(MSG_NO_JOB)
    context = _job_context(request, job, request.GET.get("page"))
    return _render(request, "dashboard/batch.html", "progress", context, polling=context["active"])


@require_POST
@role_required(OPERATOR)
@vary_on_headers("HX-Request")
def batch_cancel(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """Cancel the job; htmx gets the job's section back (no longer polling), a plain
    form post a redirect to the job's page."""
    job = batch_get(public_id)
    if job is None:
        raise Http404(MSG_NO_JOB)
    notice = ""
    try:
        job = batches.batch_cancel(job, by=request.user, source=ChangeSource.DASHBOARD)
    except batches.BatchFinished as exc:  # it ended while the page was open
        notice = MSG_ALREADY_ENDED.format(status=exc.status)
    if not _partial(request):
        return redirect("dashboard:batch", public_id=job.public_id)
    context = {**_job_context(request, job, request.POST.get("page")), "notice": notice}
    return _render(request, "dashboard/batch.html", "progress", context, polling=False)
