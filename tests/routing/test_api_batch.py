"""POST /api/route/batch, GET /api/route/batch/{id} and POST /api/route/batch/{id}/cancel
over real HTTP: Switchboard on a live server, the models on the fake upstream, httpx as
the client. Celery runs eagerly (tests/conftest.py), so a job has been routed by the time
POST answers; the tests still poll as a client would.

The Celery task is also called directly, as a worker would after a crash or a duplicate
delivery, to check it is safe to run again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from celery.exceptions import Retry
from django.db import OperationalError
from django.test import Client

from routing.api import errors
from routing.api.batch_serializers import MSG_NOT_AN_OBJECT
from routing.api.batch_views import MSG_ALREADY_FINISHED, MSG_NO_BATCH, MSG_TOO_MANY
from routing.choices import ChangeSource
from routing.models import ApiKey, BatchItem, BatchJob, ChangeLogEntry, Decision, SpendLedger
from routing.services import api_key_create
from routing.services import batches as batch_service
from routing.services.batches import (
    CANCELLED,
    CANCELLED_STATUS,
    INTERNAL_ERROR,
    MSG_GAVE_UP,
    MSG_INTERNAL,
    MSG_ITEM_CANCELLED,
    MSG_JOB_CANCELLED,
    MSG_KEY_GONE,
)
from routing.tasks import route_batch
from tests.factories import make_agent, make_user
from tests.upstream_registry import add_model

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = "/api/route/batch"
PII = "Mail jane.doe@example.com the contract"
# What differs between two routings of the same request.
VOLATILE = ("decision_id", "latency_ms")


def ask(content: str = "hello there", **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **fields}


def submit(client: httpx.Client, requests: list[Any], **body: Any) -> httpx.Response:
    return client.post(BATCH, json={"requests": requests, **body})


def cancel(client: httpx.Client | Client, job: BatchJob) -> Any:
    return client.post(f"{BATCH}/{job.public_id}/cancel")


def poll_until_finished(client: httpx.Client, url: str, seconds: float = 10) -> dict[str, Any]:
    """GET the job until it is done or failed, as a client would."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = client.get(url)
        assert response.status_code == 200, response.text
        if response.json()["status"] in {"done", "failed"}:
            return response.json()
        threading.Event().wait(0.05)
    raise AssertionError(f"the job at {url} did not finish within {seconds}s")


def without_volatile(body: Any) -> Any:
    """A route answer (or envelope) without what differs between two routings."""
    if isinstance(body, dict):
        return {k: without_volatile(v) for k, v in body.items() if k not in VOLATILE}
    if isinstance(body, list):
        return [without_volatile(v) for v in body]
    return body


def service_key() -> ApiKey:
    """The key of the `client` fixture."""
    return ApiKey.objects.get(name="svc")


def stored_job(requests: Iterable[dict[str, Any]], **fields: Any) -> BatchJob:
    """A job written straight to the database, as POST leaves it before a worker runs it."""
    requests = list(requests)
    job = BatchJob.objects.create(
        api_key=fields.pop("api_key", None) or service_key(),
        api_key_name="svc",
        total=len(requests),
        **fields,
    )
    for index, request in enumerate(requests):
        BatchItem.objects.create(job=job, index=index, request={"dry_run": False, **request})
    return job


# -- submit and poll --------------------------------------------------------------------------


def test_a_batch_is_accepted_with_202_and_polled_until_done(registry, client, live_server) -> None:
    add_model(registry, "local-a", "local", "llama3@text=Hi+there")

    response = submit(client, [ask(), ask("and hello again")])

    assert response.status_code == 202, response.text
    body = response.json()
    job = BatchJob.objects.get()
    url = f"{live_server.url}{BATCH}/{job.public_id}"
    assert set(body) == {"id", "status", "total", "completed", "failed", "url"}
    assert (body["id"], body["total"], body["url"]) == (str(job.public_id), 2, url)
    assert response.headers["Location"] == url
    done = poll_until_finished(client, body["url"])
    assert (done["status"], done["completed"], done["failed"]) == ("done", 2, 0)
    assert [item["index"] for item in done["items"]] == [0, 1]
    assert [item["status_code"] for item in done["items"]] == [200, 200]
    assert all(item["response"]["content"] == "Hi there" for item in done["items"])
    assert done["started_at"] <= done["finished_at"]
    assert done["next"] is None


def test_each_result_is_exactly_what_a_single_route_call_answers(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3@text=Hi+there")
    requests = [
        ask(cache=False),
        ask(dry_run=True),
        ask(agent="nobody"),  # 404 unknown_agent, with its audit row
        ask(response_schema={"type": "object"}, cache=False),  # "Hi there" is no JSON: 502
    ]

    job = poll_until_finished(client, submit(client, requests).json()["url"])
    singles = [client.post("/api/route", json=request) for request in requests]

    assert [item["status_code"] for item in job["items"]] == [s.status_code for s in singles]
    assert [item["status_code"] for item in job["items"]] == [200, 200, 404, 502]
    for item, single in zip(job["items"], singles, strict=True):
        assert without_volatile(item["response"]) == without_volatile(single.json())
    assert job["items"][2]["response"]["error"]["code"] == errors.UNKNOWN_AGENT
    assert job["items"][3]["response"]["error"]["code"] == errors.ALL_MODELS_FAILED
    assert job["failed"] == 2


def test_every_request_leaves_one_audit_row_under_the_key_and_its_spend(registry, client) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o")
    requests = [ask(f"question {n}", task={"complexity": "critical"}) for n in range(3)]

    job = poll_until_finished(client, submit(client, requests).json()["url"])

    rows = Decision.objects.all()
    assert len(rows) == 3
    assert {row.api_key_name for row in rows} == {"svc"}
    assert {str(row.public_id) for row in rows} == {
        item["response"]["decision_id"] for item in job["items"]
    }
    assert set(BatchItem.objects.values_list("decision_id", flat=True)) == {
        row.public_id for row in rows
    }
    spent = SpendLedger.objects.get(scope="global", period="day").cost_usd
    assert float(spent) == pytest.approx(sum(i["response"]["cost_usd"] for i in job["items"]))
    assert spent > 0


def test_the_batch_agent_is_the_default_of_requests_that_name_none(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3")
    make_agent(key="writer")
    make_agent(key="reviewer")

    submit(client, [ask(), ask(agent="reviewer")], agent="writer")

    agents = [d.agent_key for d in Decision.objects.order_by("created_at", "id")]
    assert sorted(agents) == ["reviewer", "writer"]


def test_a_failing_upstream_makes_some_requests_502_while_the_others_succeed(
    registry, client, settings
) -> None:
    settings.SWITCHBOARD_CIRCUIT_FAILURES = 100  # every request still tries local-a first
    add_model(registry, "local-a", "local", "llama3@status=500")
    add_model(registry, "cloud-a", "cloud", "gpt-4o")
    # PII stays on local models, so those requests have no model left that works.
    requests = [ask(), ask(PII), ask("hello once more"), ask(PII + " today")]

    job = poll_until_finished(client, submit(client, requests).json()["url"])

    assert (job["status"], job["completed"], job["failed"]) == ("done", 4, 2)
    codes = [item["status_code"] for item in job["items"]]
    assert codes == [200, 502, 200, 502]
    for item in job["items"]:
        if item["status_code"] == 502:
            error = item["response"]["error"]
            assert error["code"] == errors.ALL_MODELS_FAILED
            assert error["message"] == errors.MSG_ALL_FAILED
            assert [a["model"] for a in error["details"]["attempts"]] == ["local-a"]
            assert Decision.objects.get(public_id=error["decision_id"]).outcome == "failed"
        else:
            assert item["response"]["model_used"] == "cloud-a"
    assert Decision.objects.count() == 4


# -- bad input ------------------------------------------------------------------------------


def test_an_invalid_request_is_a_400_naming_its_index_and_field_and_nothing_is_queued(
    registry, client, upstream
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    requests = [
        ask(),
        {"messages": []},
        {"messages": [{"role": "wizard", "content": "x"}]},
        "not an object",
        ask(task={"complexity": 11}),
        ask(surprise=1),
    ]

    response = submit(client, requests)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == errors.INVALID_REQUEST
    fields = error["details"]["fields"]
    assert set(fields) == {
        "requests[1].messages",
        "requests[2].messages[0].role",
        "requests[3]",
        "requests[4].task.complexity",
        "requests[5].surprise",
    }
    assert fields["requests[3]"] == [MSG_NOT_AN_OBJECT]
    assert fields["requests[5].surprise"] == ["Unknown field."]
    assert not BatchJob.objects.exists()
    assert not Decision.objects.exists()
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"requests": []}, "requests"),
        ({}, "requests"),
        ({"requests": {"messages": []}}, "requests"),
        ({"requests": [ask()], "agent": "x" * 65}, "agent"),
        ({"requests": [ask()], "priority": "high"}, "priority"),
    ],
)
def test_a_malformed_batch_is_a_400_naming_the_field(registry, client, body, field) -> None:
    response = client.post(BATCH, json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == errors.INVALID_REQUEST
    assert field in response.json()["error"]["details"]["fields"]
    assert not BatchJob.objects.exists()


def test_more_requests_than_the_limit_is_a_413_saying_how_to_fix_it(
    registry, client, settings
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    settings.SWITCHBOARD_BATCH_MAX_REQUESTS = 3

    too_many = submit(client, [ask()] * 4)
    enough = submit(client, [ask()] * 3)

    assert too_many.status_code == 413
    error = too_many.json()["error"]
    assert error["code"] == errors.PAYLOAD_TOO_LARGE
    assert error["message"] == MSG_TOO_MANY.format(count=4, limit=3)
    assert error["details"] == {"requests": 4, "limit": 3}
    assert enough.status_code == 202
    assert BatchJob.objects.get().total == 3


def test_a_body_over_the_byte_limit_is_a_413(registry, client, settings) -> None:
    big = "x" * (settings.SWITCHBOARD_MAX_BODY_BYTES + 10)

    response = submit(client, [ask(big)])

    assert response.status_code == 413
    assert response.json()["error"]["code"] == errors.PAYLOAD_TOO_LARGE
    assert not BatchJob.objects.exists()


# -- who may submit and read ----------------------------------------------------------------


def test_submitting_needs_a_key_with_the_route_scope(registry, live_server) -> None:
    url = f"{live_server.url}{BATCH}"
    body = {"requests": [ask()]}
    status_only = api_key_create(name="status-only", scopes=["status"]).plaintext

    anonymous = httpx.post(url, json=body)
    bad = httpx.post(url, json=body, headers={"Authorization": "Bearer sb_nope_nope"})
    forbidden = httpx.post(url, json=body, headers={"Authorization": f"Bearer {status_only}"})

    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (
        401,
        errors.UNAUTHENTICATED,
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (401, errors.UNAUTHENTICATED)
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, errors.FORBIDDEN)
    assert not BatchJob.objects.exists()


def test_a_job_is_read_by_its_own_key_and_viewers_and_is_404_to_another_key(
    registry, client, live_server
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    url = submit(client, [ask()]).json()["url"]
    other = api_key_create(name="other").plaintext
    status_only = api_key_create(name="status-only", scopes=["status"]).plaintext
    unknown = f"{live_server.url}{BATCH}/{uuid.uuid4()}"

    as_other = httpx.get(url, headers={"Authorization": f"Bearer {other}"})
    as_status_key = httpx.get(url, headers={"Authorization": f"Bearer {status_only}"})
    not_a_job = client.get(unknown)
    not_a_uuid = client.get(f"{live_server.url}{BATCH}/nope")

    assert client.get(url).status_code == 200
    assert as_other.status_code == 404
    assert as_other.json()["error"] == {
        "code": errors.NOT_FOUND,
        "message": MSG_NO_BATCH.format(id=url.rsplit("/", 1)[1]),
        "details": {},
        "decision_id": None,
    }
    assert as_status_key.status_code == 403
    assert not_a_job.status_code == not_a_uuid.status_code == 404
    assert httpx.get(url).status_code == 401


def test_people_read_any_job_with_the_viewer_role_and_never_submit(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3")
    url = submit(client, [ask()]).json()["url"]
    path = httpx.URL(url).path
    viewer, nobody = Client(), Client()
    viewer.force_login(make_user(role="viewer"))
    nobody.force_login(make_user(role=None))

    assert viewer.get(path).status_code == 200
    assert viewer.get(path).json()["items"][0]["status_code"] == 200
    assert nobody.get(path).status_code == 403
    assert (
        viewer.post(BATCH, {"requests": [ask()]}, content_type="application/json").status_code
        == 401
    )


def test_results_come_a_page_at_a_time(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3")
    url = submit(client, [ask(dry_run=True)] * 5).json()["url"]

    first = client.get(url, params={"limit": 2}).json()
    second = client.get(first["next"]).json()
    last = client.get(second["next"]).json()
    out_of_range = client.get(url, params={"limit": 0})

    assert [i["index"] for i in first["items"]] == [0, 1]
    assert (second["offset"], [i["index"] for i in second["items"]]) == (2, [2, 3])
    assert ([i["index"] for i in last["items"]], last["next"]) == ([4], None)
    assert client.get(url, params={"offset": 9}).json()["items"] == []
    assert out_of_range.status_code == 400
    assert "limit" in out_of_range.json()["error"]["details"]["fields"]


# -- the task -------------------------------------------------------------------------------


def test_running_the_task_again_routes_only_what_is_unfinished(registry, client, upstream) -> None:
    add_model(registry, "local-a", "local", "llama3@text=Hi")
    # A worker died after the first request: it is recorded, the other two are not.
    job = stored_job([ask("one"), ask("two"), ask("three")], status="running", completed=1)
    first = job.items.get(index=0)
    first.status_code, first.response = 200, {"decision_id": None, "content": "earlier"}
    first.finished_at = job.created_at
    first.save()
    upstream.reset()

    route_batch.delay(job.pk)
    requests_after_the_rerun = len(upstream.requests)
    route_batch.delay(job.pk)  # a duplicate delivery of a finished job

    job.refresh_from_db()
    assert (job.status, job.completed, job.failed) == ("done", 3, 0)
    assert requests_after_the_rerun == 2
    assert len(upstream.requests) == 2
    assert Decision.objects.count() == 2
    assert job.items.get(index=0).response == {"decision_id": None, "content": "earlier"}
    assert [i.status_code for i in job.items.order_by("index")] == [200, 200, 200]


def test_a_finished_job_submitted_over_http_is_left_alone_by_a_rerun(
    registry, client, upstream
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    submit(client, [ask(), ask()])
    job = BatchJob.objects.get()
    before = list(job.items.values_list("response", flat=True))
    upstream.reset()

    run = batch_service.batch_run(job.pk)

    assert (run.status, run.routed) == ("done", 0)
    assert upstream.requests == []
    assert Decision.objects.count() == 2
    assert list(job.items.values_list("response", flat=True)) == before


def test_one_request_that_breaks_switchboard_does_not_stop_the_others(
    registry, client, monkeypatch
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    real_route = batch_service.route

    def route(body: Any, **kwargs: Any) -> Any:
        if body["messages"][0]["content"] == "boom":
            raise RuntimeError("a bug")
        return real_route(body, **kwargs)

    monkeypatch.setattr(batch_service, "route", route)
    job = stored_job([ask(), ask("boom"), ask()])

    route_batch.delay(job.pk)

    job.refresh_from_db()
    assert (job.status, job.completed, job.failed) == ("done", 3, 1)
    broken = job.items.get(index=1)
    assert broken.status_code == 500
    assert broken.response == errors.envelope(INTERNAL_ERROR, MSG_INTERNAL)
    assert [i.status_code for i in job.items.order_by("index")] == [200, 500, 200]


def test_a_revoked_key_stops_its_batch_with_what_route_would_answer(
    registry, client, upstream
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    job = stored_job([ask(), ask()])
    ApiKey.objects.filter(pk=job.api_key_id).update(is_active=False)
    upstream.reset()

    route_batch.delay(job.pk)

    job.refresh_from_db()
    assert (job.status, job.completed, job.failed) == ("failed", 2, 2)
    assert job.error == MSG_KEY_GONE.format(count=2)
    for item in job.items.all():
        assert item.status_code == 401
        assert item.response == errors.envelope(errors.UNAUTHENTICATED, errors.MSG_BAD_KEY)
    assert upstream.requests == []
    assert not Decision.objects.exists()


def test_the_task_retries_and_marks_the_job_failed_when_it_gives_up(
    registry, client, monkeypatch
) -> None:
    job = stored_job([ask()])

    def broken(job_id: int) -> Any:
        raise OperationalError("the database went away")

    monkeypatch.setattr("routing.tasks.batch_run", broken)

    # A try before the last asks the worker to retry later, and leaves the job queued.
    with pytest.raises(Retry):
        route_batch.apply(args=[job.pk], retries=route_batch.max_retries - 1)
    job.refresh_from_db()
    assert (job.status, job.error) == ("queued", "")
    # The last try gives up: the job ends as failed, saying why.
    with pytest.raises(OperationalError):
        route_batch.apply(args=[job.pk], retries=route_batch.max_retries)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == MSG_GAVE_UP.format(
        tries=route_batch.max_retries + 1, error="OperationalError: the database went away"
    )
    assert job.finished_at is not None


@pytest.mark.parametrize(("keep", "kept"), [(False, False), (True, True)])
def test_the_prompt_is_kept_after_routing_only_when_full_prompts_are(
    registry, client, settings, keep, kept
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    settings.SWITCHBOARD_STORE_FULL_PROMPTS = keep

    submit(client, [ask(PII, session_id="s-1")])

    stored = BatchItem.objects.get().request
    assert ("messages" in stored) is kept
    assert stored["session_id"] == "s-1"


# -- cancelling -----------------------------------------------------------------------------


def test_the_submitting_key_cancels_a_queued_job_and_a_worker_then_routes_nothing(
    registry, client, upstream
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    job = stored_job([ask("one"), ask("two"), ask("three")])
    upstream.reset()

    response = cancel(client, job)
    run = batch_service.batch_run(job.pk)  # the worker picks the job up afterwards

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["total"]) == (str(job.public_id), "cancelled", 3)
    assert (body["completed"], body["failed"]) == (0, 0)
    assert body["url"].endswith(f"{BATCH}/{job.public_id}")
    assert (run.status, run.routed) == ("cancelled", 0)
    assert upstream.requests == []
    assert not Decision.objects.exists()  # not one audit row: nothing was routed
    job.refresh_from_db()
    assert job.finished_at is not None
    assert job.error == MSG_JOB_CANCELLED.format(by="api-key:svc")
    for item in job.items.all():
        assert item.status_code == CANCELLED_STATUS
        assert item.response == errors.envelope(CANCELLED, MSG_ITEM_CANCELLED)
        assert item.decision_id is None
    read = client.get(body["url"]).json()
    assert read["status"] == "cancelled"
    assert [i["response"]["error"]["code"] for i in read["items"]] == [CANCELLED] * 3
    entry = ChangeLogEntry.objects.get(target_type="batch_job")
    assert (entry.action, entry.target_key) == ("batch_job.cancel", str(job.public_id))
    assert (entry.actor, entry.actor_label, entry.source) == (None, "api-key:svc", "api")
    assert entry.before == {"status": "queued", "completed": 0, "total": 3}
    assert entry.after == {"status": "cancelled", "cancelled_requests": 3}


def test_cancelling_a_cancelled_job_answers_200_again_and_changes_nothing(registry, client) -> None:
    job = stored_job([ask(), ask()], status="running")

    first = cancel(client, job)
    finished_at = BatchJob.objects.values_list("finished_at", flat=True).get(pk=job.pk)
    second = cancel(client, job)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.json()["status"] == "cancelled"
    assert BatchJob.objects.values_list("finished_at", flat=True).get(pk=job.pk) == finished_at
    assert ChangeLogEntry.objects.filter(target_type="batch_job").count() == 1


@pytest.mark.parametrize("status", ["done", "failed"])
def test_a_job_that_has_ended_cannot_be_cancelled_409(registry, client, upstream, status) -> None:
    add_model(registry, "local-a", "local", "llama3")
    submit(client, [ask(), ask()])
    job = BatchJob.objects.get()
    BatchJob.objects.filter(pk=job.pk).update(status=status)
    before = list(job.items.order_by("index").values_list("status_code", "response"))

    response = cancel(client, job)

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": errors.CONFLICT,
        "message": MSG_ALREADY_FINISHED.format(id=job.public_id, status=status),
        "details": {"status": status},
        "decision_id": None,
    }
    job.refresh_from_db()
    assert job.status == status
    assert list(job.items.order_by("index").values_list("status_code", "response")) == before
    assert not ChangeLogEntry.objects.filter(target_type="batch_job").exists()


def test_only_the_submitting_key_and_operators_may_cancel(registry, client, live_server) -> None:
    job = stored_job([ask()])
    url = f"{live_server.url}{BATCH}/{job.public_id}/cancel"
    other = api_key_create(name="other").plaintext
    status_only = api_key_create(name="status-only", scopes=["status"]).plaintext
    viewer, operator = Client(), Client()
    viewer.force_login(make_user(role="viewer"))
    operator.force_login(make_user(role="operator", username="op"))

    anonymous = httpx.post(url)
    as_status_key = httpx.post(url, headers={"Authorization": f"Bearer {status_only}"})
    as_other_key = httpx.post(url, headers={"Authorization": f"Bearer {other}"})
    as_viewer = cancel(viewer, job)
    unknown = client.post(f"{BATCH}/{uuid.uuid4()}/cancel")

    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (
        401,
        errors.UNAUTHENTICATED,
    )
    assert as_status_key.status_code == 403
    assert as_status_key.json()["error"] == {
        "code": errors.FORBIDDEN,
        "message": errors.MSG_FORBIDDEN.format(scope="route"),
        "details": {},
        "decision_id": None,
    }
    assert (as_other_key.status_code, as_other_key.json()["error"]["code"]) == (
        404,
        errors.NOT_FOUND,
    )
    assert (as_viewer.status_code, as_viewer.json()["error"]["code"]) == (403, errors.FORBIDDEN)
    assert unknown.status_code == 404
    assert BatchJob.objects.get(pk=job.pk).status == "queued"
    assert not ChangeLogEntry.objects.filter(target_type="batch_job").exists()

    as_operator = cancel(operator, job)

    assert (as_operator.status_code, as_operator.json()["status"]) == (200, "cancelled")
    entry = ChangeLogEntry.objects.get(target_type="batch_job")
    assert (entry.actor.username, entry.actor_label) == ("op", "op")


def test_a_job_cancelled_while_it_runs_keeps_what_was_routed_and_routes_no_more(
    registry, client, upstream, monkeypatch
) -> None:
    add_model(registry, "local-a", "local", "llama3@text=Hi")
    job = stored_job([ask("one"), ask("two"), ask("three"), ask("four")])
    operator = make_user(role="operator", username="op")
    real_route = batch_service.route

    def route(body: Any, **kwargs: Any) -> Any:
        answer = real_route(body, **kwargs)
        if body["messages"][0]["content"] == "two":
            # An operator cancels while the worker is routing the second request.
            batch_service.batch_cancel(job, by=operator, source=ChangeSource.DASHBOARD)
        return answer

    monkeypatch.setattr(batch_service, "route", route)
    upstream.reset()

    run = batch_service.batch_run(job.pk)

    assert (run.status, run.routed) == ("cancelled", 2)
    assert len(upstream.requests) == 2
    assert Decision.objects.count() == 2  # only the two routed requests have audit rows
    job.refresh_from_db()
    assert (job.status, job.completed, job.failed) == ("cancelled", 2, 0)
    items = list(job.items.order_by("index"))
    # The first finished before the cancel; the second was being routed when it came,
    # and keeps its real answer (and audit row) rather than the cancel's mark.
    assert [i.status_code for i in items] == [200, 200, CANCELLED_STATUS, CANCELLED_STATUS]
    assert [i.response["content"] for i in items[:2]] == ["Hi", "Hi"]
    assert {i.decision_id for i in items[:2]} == set(
        Decision.objects.values_list("public_id", flat=True)
    )
    for item in items[2:]:
        assert item.response == errors.envelope(CANCELLED, MSG_ITEM_CANCELLED)
    read = client.get(f"{BATCH}/{job.public_id}").json()
    assert (read["status"], read["completed"], read["error"]) == (
        "cancelled",
        2,
        MSG_JOB_CANCELLED.format(by="op"),
    )
