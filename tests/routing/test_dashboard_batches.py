"""The batch pages of the dashboard (/batches and /batches/<id>), through Django's test
client: who may see them, the full page and the htmx partial (with `Vary: HX-Request`),
the progress bar's values, polling that stops once a job ends, the rows of a job's
requests linking to their decisions, and the "Cancel job" button (operators and up)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing.api import errors
from routing.dashboard.batch_views import ITEMS_PER_PAGE, MSG_ALREADY_ENDED, STOP_POLLING
from routing.models import BatchItem, BatchJob, ChangeLogEntry
from routing.services.batches import CANCELLED, MSG_ITEM_CANCELLED, MSG_JOB_CANCELLED
from tests.factories import make_decision, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
POLL = 'hx-trigger="every 1s"'


def logged_in(role: str | None) -> Client:
    client = Client()
    client.force_login(make_user(role=role))
    return client


def make_job(total: int = 3, **fields: Any) -> BatchJob:
    return BatchJob.objects.create(api_key_name="nightly-reports", total=total, **fields)


def finish_item(job: BatchJob, index: int, status: int, response: dict[str, Any]) -> BatchItem:
    return BatchItem.objects.create(
        job=job,
        index=index,
        request={"agent": "writer"},
        status_code=status,
        response=response,
        decision_id=(response.get("error") or response).get("decision_id"),
        finished_at=timezone.now(),
    )


def job_url(job: BatchJob) -> str:
    return reverse("dashboard:batch", kwargs={"public_id": job.public_id})


def cancel_url(job: BatchJob) -> str:
    return reverse("dashboard:batch_cancel", kwargs={"public_id": job.public_id})


def progress(html: str) -> tuple[str, str]:
    """(max, value) of the first <progress> element."""
    match = re.search(r'<progress max="(\d+)" value="(\d+)"', html)
    assert match, html
    return match.group(1), match.group(2)


# -- who may see them -------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["list", "job"])
def test_anonymous_visitors_are_sent_to_log_in_and_users_without_a_role_get_403(page) -> None:
    url = reverse("dashboard:batches") if page == "list" else job_url(make_job())

    anonymous = Client().get(url)
    no_role = logged_in(None).get(url)

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    assert no_role.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_sees_the_list_and_a_job(role) -> None:
    job = make_job()
    client = logged_in(role)

    assert client.get(reverse("dashboard:batches")).status_code == 200
    assert client.get(job_url(job)).status_code == 200


def test_an_unknown_job_is_404() -> None:
    url = reverse("dashboard:batch", kwargs={"public_id": uuid.uuid4()})

    assert logged_in("viewer").get(url).status_code == 404


# -- the list ---------------------------------------------------------------------------------


def test_the_list_shows_recent_jobs_newest_first_with_their_progress() -> None:
    older = make_job(total=4, status="done", completed=4, failed=1)
    newer = make_job(total=10, status="running", completed=3)

    html = logged_in("viewer").get(reverse("dashboard:batches")).content.decode()

    assert html.index(job_url(newer)) < html.index(job_url(older))
    assert re.findall(r'<progress max="(\d+)" value="(\d+)"', html) == [("10", "3"), ("4", "4")]
    assert '4 of 4 finished, <span class="batch-failed">1 failed</span>' in html
    assert "nightly-reports" in html


def test_the_list_polls_while_a_job_runs_and_stops_when_none_does() -> None:
    job = make_job(status="running")
    client = logged_in("viewer")

    running = client.get(reverse("dashboard:batches"), **HTMX)
    BatchJob.objects.filter(pk=job.pk).update(status="done", completed=3)
    ended = client.get(reverse("dashboard:batches"), **HTMX)

    assert running.status_code == 200
    assert 'hx-trigger="every 2s"' in running.content.decode()
    assert ended.status_code == STOP_POLLING
    assert "hx-trigger" not in ended.content.decode()


def test_the_list_says_how_to_submit_a_batch_when_there_is_none() -> None:
    html = logged_in("viewer").get(reverse("dashboard:batches")).content.decode()

    assert "No batch has been submitted yet" in html
    assert "POST /api/route/batch" in html


# -- one job: full page and partial --------------------------------------------------------------


def test_the_full_page_and_the_htmx_partial_share_the_progress_section() -> None:
    job = make_job(total=10, status="running", completed=4, failed=1, started_at=timezone.now())
    client = logged_in("viewer")

    page = client.get(job_url(job))
    partial = client.get(job_url(job), **HTMX)

    for response in (page, partial):
        assert response.status_code == 200
        assert "HX-Request" in response["Vary"]
        html = response.content.decode()
        assert progress(html) == ("10", "4")
        assert "4 of 10 finished" in html
        assert "1 failed" in html
    assert "<html" in page.content.decode()
    assert "<html" not in partial.content.decode()
    assert partial.content.decode().lstrip().startswith('<section id="batch-progress"')


def test_a_queued_or_running_job_polls_every_second() -> None:
    client = logged_in("viewer")
    for status in ("queued", "running"):
        job = make_job(status=status)

        html = client.get(job_url(job), **HTMX).content.decode()

        assert POLL in html
        assert f'hx-get="{job_url(job)}"' in html


@pytest.mark.parametrize("status", ["done", "failed", "cancelled"])
def test_polling_stops_once_the_job_has_ended(status) -> None:
    job = make_job(total=2, status=status, completed=2, finished_at=timezone.now())
    client = logged_in("viewer")

    partial = client.get(job_url(job), **HTMX)
    page = client.get(job_url(job))

    assert partial.status_code == STOP_POLLING
    assert "hx-trigger" not in partial.content.decode()
    assert progress(partial.content.decode()) == ("2", "2")
    assert page.status_code == 200
    assert "hx-trigger" not in page.content.decode()


def test_a_job_that_failed_says_why() -> None:
    job = make_job(status="failed", error="The worker gave up on this batch after 4 tries: x")

    html = logged_in("viewer").get(job_url(job)).content.decode()

    assert "The worker gave up on this batch after 4 tries: x" in html


def test_each_request_has_a_row_with_its_status_and_a_link_to_its_decision() -> None:
    ok = make_decision(model_used="local-a")
    failed = make_decision(outcome="failed")
    job = make_job(total=3, status="running", completed=2, failed=1)
    finish_item(job, 0, 200, {"decision_id": str(ok.public_id), "model_used": "local-a"})
    envelope = errors.envelope(
        errors.ALL_MODELS_FAILED, errors.MSG_ALL_FAILED, {}, str(failed.public_id)
    )
    finish_item(job, 1, 502, envelope)
    BatchItem.objects.create(job=job, index=2, request={})

    html = logged_in("viewer").get(job_url(job)).content.decode()

    rows = re.findall(r'<tr class="batch-item batch-item-(\w+)" data-index="(\d+)"', html)
    assert rows == [("ok", "0"), ("error", "1"), ("pending", "2")]
    assert reverse("dashboard:decision", kwargs={"public_id": ok.public_id}) in html
    assert reverse("dashboard:decision", kwargs={"public_id": failed.public_id}) in html
    assert "answered by local-a" in html
    assert f"{errors.ALL_MODELS_FAILED}: {errors.MSG_ALL_FAILED}" in html
    assert "not routed yet" in html


def test_a_large_job_shows_its_requests_a_page_at_a_time() -> None:
    total = ITEMS_PER_PAGE + 5
    job = make_job(total=total, status="running")
    BatchItem.objects.bulk_create(BatchItem(job=job, index=n, request={}) for n in range(total))
    client = logged_in("viewer")

    first = client.get(job_url(job)).content.decode()
    second = client.get(job_url(job), {"page": 2}, **HTMX).content.decode()
    past_the_end = client.get(job_url(job), {"page": 99}).content.decode()

    assert first.count('class="batch-item ') == ITEMS_PER_PAGE
    assert f"{job_url(job)}?page=2" in first
    assert second.count('class="batch-item ') == 5
    assert f'hx-get="{job_url(job)}?page=2"' in second  # polls the page it shows
    assert 'data-index="100"' in second
    assert 'data-index="100"' in past_the_end  # the last page


# -- cancelling ----------------------------------------------------------------------------------


def make_running_job_with_pending_items() -> BatchJob:
    """A job whose first request is routed and whose other two are not yet."""
    job = make_job(total=3, status="running", completed=1, started_at=timezone.now())
    finish_item(job, 0, 200, {"decision_id": None, "model_used": "local-a"})
    BatchItem.objects.create(job=job, index=1, request={})
    BatchItem.objects.create(job=job, index=2, request={})
    return job


@pytest.mark.parametrize(
    ("role", "shown"), [("viewer", False), ("operator", True), ("admin", True)]
)
def test_the_cancel_button_is_shown_to_operators_and_admins_only(role, shown) -> None:
    job = make_running_job_with_pending_items()

    html = logged_in(role).get(job_url(job)).content.decode()

    assert ("Cancel job" in html) is shown
    assert (f'hx-post="{cancel_url(job)}"' in html) is shown
    if shown:
        form = html[html.index('<form class="batch-cancel"') : html.index("Cancel job")]
        assert f'action="{cancel_url(job)}"' in form
        assert 'method="post"' in form
        assert 'name="csrfmiddlewaretoken"' in form
        assert 'hx-target="#batch-progress"' in form


@pytest.mark.parametrize("status", ["done", "failed", "cancelled"])
def test_there_is_no_cancel_button_once_the_job_has_ended(status) -> None:
    job = make_job(status=status, finished_at=timezone.now())

    assert "Cancel job" not in logged_in("operator").get(job_url(job)).content.decode()


def test_a_viewer_who_posts_anyway_gets_403_and_nothing_changes() -> None:
    job = make_running_job_with_pending_items()

    response = logged_in("viewer").post(cancel_url(job), **HTMX)

    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == "running"
    assert job.items.filter(status_code__isnull=True).count() == 2
    assert not ChangeLogEntry.objects.exists()


def test_an_operator_cancels_with_htmx_and_gets_the_section_back_no_longer_polling() -> None:
    job = make_running_job_with_pending_items()
    operator = make_user(role="operator", username="op")
    client = Client()
    client.force_login(operator)

    response = client.post(cancel_url(job), {"page": "1"}, **HTMX)

    assert response.status_code == STOP_POLLING
    assert "HX-Request" in response["Vary"]
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="batch-progress"')
    assert "hx-trigger" not in html
    assert "Cancel job" not in html
    assert "1 of 3 finished, 2 cancelled" in html
    assert MSG_JOB_CANCELLED.format(by="op") in html
    rows = re.findall(r'<tr class="batch-item batch-item-(\w+)" data-index="(\d+)"', html)
    assert rows == [("ok", "0"), ("cancelled", "1"), ("cancelled", "2")]
    assert MSG_ITEM_CANCELLED in html
    job.refresh_from_db()
    assert (job.status, job.completed) == ("cancelled", 1)
    assert [i.response["error"]["code"] for i in job.items.filter(index__gt=0)] == [CANCELLED] * 2
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key) == ("batch_job.cancel", str(job.public_id))
    assert (entry.actor, entry.source) == (operator, "dashboard")
    # The page's next poll, had one been in flight, stops too.
    assert client.get(job_url(job), **HTMX).status_code == STOP_POLLING


def test_without_htmx_cancelling_redirects_back_to_the_job() -> None:
    job = make_running_job_with_pending_items()

    response = logged_in("admin").post(cancel_url(job))

    assert response.status_code == 302
    assert response["Location"] == job_url(job)
    assert BatchJob.objects.get(pk=job.pk).status == "cancelled"


def test_cancelling_a_job_that_ended_meanwhile_says_so_and_changes_nothing() -> None:
    job = make_job(total=2, status="done", completed=2, finished_at=timezone.now())

    response = logged_in("operator").post(cancel_url(job), **HTMX)

    assert response.status_code == STOP_POLLING
    assert MSG_ALREADY_ENDED.format(status="done") in response.content.decode()
    assert BatchJob.objects.get(pk=job.pk).status == "done"
    assert not ChangeLogEntry.objects.exists()


def test_cancelling_takes_a_post_with_a_csrf_token() -> None:
    job = make_running_job_with_pending_items()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user(role="operator"))

    assert logged_in("operator").get(cancel_url(job)).status_code == 405
    assert strict.post(cancel_url(job), **HTMX).status_code == 403  # no token
    assert BatchJob.objects.get(pk=job.pk).status == "running"
    unknown = reverse("dashboard:batch_cancel", kwargs={"public_id": uuid.uuid4()})
    assert logged_in("operator").post(unknown).status_code == 404


# -- queries --------------------------------------------------------------------------------------


def test_a_poll_costs_a_fixed_number_of_queries(django_assert_num_queries) -> None:
    job = make_job(total=30, status="running")
    BatchItem.objects.bulk_create(BatchItem(job=job, index=n, request={}) for n in range(30))
    client = logged_in("viewer")

    # The session, the user, the user's role; the job, one page of its items; the role
    # again (may they cancel it?), only asked while the job can still be cancelled.
    with django_assert_num_queries(6):
        client.get(job_url(job), **HTMX)
    BatchJob.objects.filter(pk=job.pk).update(status="done", completed=30)
    with django_assert_num_queries(5):
        client.get(job_url(job), **HTMX)
    # The session, the user, the user's role; the recent jobs.
    with django_assert_num_queries(4):
        client.get(reverse("dashboard:batches"), **HTMX)
