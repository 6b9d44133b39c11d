"""The read-only audit API: decisions and the change log, their filters, cursor pages
and pinned query counts, and who may see a decision's full prompt."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from routing.api import errors
from routing.api.crud_serializers import DECISION_LIST_FIELDS
from routing.api.filters import MSG_EMPTY_RANGE, DecisionFilter
from routing.choices import ChangeSource, DecisionOutcome
from routing.models import Decision
from tests.factories import make_change_log_entry, make_decision, make_user

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def client_for(user: Any = None, *, bearer: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    if bearer is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")
    return client


def ids_of(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [d["public_id"] for d in response.json()["results"]]


def walk(client: APIClient, url: str, params: dict[str, Any]) -> list[list[Any]]:
    """Every page of a cursor-paged list, following the `next` links."""
    pages = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append(body["results"])
        if body["next"] is None:
            return pages
        response = client.get(body["next"])


# -- access ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/decisions", "/api/change-log"])
def test_the_audit_lists_need_a_login_and_refuse_service_keys(path: str, service_key: Any) -> None:
    anonymous = client_for().get(path)
    service = client_for(bearer=service_key.plaintext).get(path)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == errors.UNAUTHENTICATED
    assert service.status_code == 403
    assert service.json()["error"]["code"] == errors.FORBIDDEN


@pytest.mark.parametrize("path", ["/api/decisions", "/api/change-log"])
def test_the_audit_lists_are_read_only_even_for_admins(path: str, admin_role_user: Any) -> None:
    response = client_for(admin_role_user).post(path, {}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == errors.METHOD_NOT_ALLOWED


# -- decisions ---------------------------------------------------------------------------


def test_a_listed_decision_shows_the_summary_columns_only(viewer_user: Any) -> None:
    decision = make_decision(
        agent_key="cto",
        pii_types=["email"],
        attempts=[{"model": "model-x", "outcome": "success"}],
        prompt_excerpt="hello",
        prompt_full="hello there",
    )

    body = client_for(viewer_user).get("/api/decisions").json()

    (item,) = body["results"]
    assert list(item) == DECISION_LIST_FIELDS
    assert item["public_id"] == str(decision.public_id)
    assert item["agent"] == "cto"
    assert item["pii_types"] == ["email"]
    assert item["cost_usd"] == "0.00100000"


def test_a_decisions_detail_adds_attempts_trace_features_usage_and_the_excerpt(
    viewer_user: Any,
) -> None:
    decision = make_decision(
        attempts=[{"model": "model-x", "outcome": "success"}],
        trace={"steps": ["chose model-x"]},
        features={"complexity": 3},
        prompt_tokens=100,
        completion_tokens=20,
        prompt_excerpt="hello [EMAIL]",
        prompt_full="hello bob@example.com",
    )

    body = client_for(viewer_user).get(f"/api/decisions/{decision.public_id}").json()

    assert set(DECISION_LIST_FIELDS) < set(body)
    assert body["attempts"] == [{"model": "model-x", "outcome": "success"}]
    assert body["trace"] == {"steps": ["chose model-x"]}
    assert body["features"] == {"complexity": 3}
    assert body["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "estimated": False,
    }
    assert body["prompt_excerpt"] == "hello [EMAIL]"


@pytest.mark.parametrize(
    ("role", "sees_prompt"), [("viewer", False), ("operator", False), ("admin", True)]
)
def test_only_admins_see_the_full_prompt(role: str, sees_prompt: bool) -> None:
    decision = make_decision(prompt_full="hello bob@example.com")

    body = client_for(make_user(role=role)).get(f"/api/decisions/{decision.public_id}").json()

    assert ("prompt_full" in body) is sees_prompt
    assert ("bob@example.com" in str(body)) is sees_prompt


def test_a_superuser_sees_the_full_prompt(admin_user: Any) -> None:
    decision = make_decision(prompt_full="hello bob@example.com")

    body = client_for(admin_user).get(f"/api/decisions/{decision.public_id}").json()

    assert body["prompt_full"] == "hello bob@example.com"


@pytest.mark.parametrize("public_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_decision_is_a_404_in_the_envelope(viewer_user: Any, public_id: str) -> None:
    make_decision()

    response = client_for(viewer_user).get(f"/api/decisions/{public_id}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == errors.NOT_FOUND


def test_decisions_filter_by_agent_model_outcome_and_strategy(viewer_user: Any) -> None:
    a = make_decision(agent_key="cto", model_used="claude", strategy="balanced")
    b = make_decision(agent_key="cto", model_used="llama3", outcome=DecisionOutcome.FAILED)
    c = make_decision(agent_key="backend", model_used="claude", strategy="privacy_first")
    client = client_for(viewer_user)

    def listed(**params: Any) -> set[str]:
        return set(ids_of(client.get("/api/decisions", params)))

    assert listed(agent="cto") == {str(a.public_id), str(b.public_id)}
    assert listed(model="claude") == {str(a.public_id), str(c.public_id)}
    assert listed(outcome="failed") == {str(b.public_id)}
    assert listed(strategy="privacy_first") == {str(c.public_id)}
    assert listed(agent="cto", model="claude") == {str(a.public_id)}
    assert listed(agent="nobody") == set()


def test_decisions_filter_by_whether_pii_was_found(viewer_user: Any) -> None:
    with_pii = make_decision(pii_types=["email", "phone"])
    without = make_decision(pii_types=[])
    client = client_for(viewer_user)

    assert ids_of(client.get("/api/decisions", {"pii": "true"})) == [str(with_pii.public_id)]
    assert ids_of(client.get("/api/decisions", {"pii": "false"})) == [str(without.public_id)]
    assert len(ids_of(client.get("/api/decisions"))) == 2


def test_decisions_filter_by_a_time_range_from_since_up_to_until(viewer_user: Any) -> None:
    _early, on_since, inside, _on_until = (
        make_decision(created_at=T0 + timedelta(hours=h)) for h in (0, 1, 2, 3)
    )
    since, until = (T0 + timedelta(hours=1)).isoformat(), (T0 + timedelta(hours=3)).isoformat()

    listed = ids_of(client_for(viewer_user).get("/api/decisions", {"since": since, "until": until}))

    assert listed == [str(inside.public_id), str(on_since.public_id)]


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"outcome": "exploded"}, {"outcome": ['"exploded" is not a valid choice.']}),
        ({"pii": "perhaps"}, {"pii": ["Must be a valid boolean."]}),
        ({"since": "last tuesday"}, {"since"}),
        ({"since": T0.isoformat(), "until": T0.isoformat()}, {"until": [MSG_EMPTY_RANGE]}),
    ],
)
def test_a_bad_decision_filter_is_a_400_with_field_errors(
    viewer_user: Any, params: dict[str, str], fields: Any
) -> None:
    response = client_for(viewer_user).get("/api/decisions", params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == errors.INVALID_REQUEST
    got = error["details"]["fields"]
    assert (set(got) if isinstance(fields, set) else got) == fields


def test_decision_pages_follow_the_cursor_newest_first_without_overlap(viewer_user: Any) -> None:
    # Five decisions share a timestamp, so the cursor must tell them apart by id.
    rows = [make_decision(created_at=T0) for _ in range(5)]
    rows += [make_decision(created_at=T0 + timedelta(minutes=m)) for m in (1, 2, 3, -1)]
    newest_first = sorted(rows, key=lambda d: (d.created_at, d.id), reverse=True)
    client = client_for(viewer_user)

    pages = walk(client, "/api/decisions", {"limit": 2})

    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    seen = [d["public_id"] for page in pages for d in page]
    assert seen == [str(d.public_id) for d in newest_first]


def test_a_decision_page_links_to_the_next_and_previous_pages(viewer_user: Any) -> None:
    for minute in range(5):
        make_decision(created_at=T0 + timedelta(minutes=minute))
    client = client_for(viewer_user)

    first = client.get("/api/decisions", {"limit": 2}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()

    assert first["previous"] is None
    assert "cursor=" in first["next"]
    assert "limit=2" in first["next"]
    assert set(first) == {"next", "previous", "results"}  # no COUNT(*) over the table
    assert back["results"] == first["results"]
    assert not {d["public_id"] for d in first["results"]} & {
        d["public_id"] for d in second["results"]
    }


def test_a_decision_page_holds_50_by_default_and_500_at_most(viewer_user: Any) -> None:
    Decision.objects.bulk_create(
        Decision(outcome=DecisionOutcome.SUCCESS, created_at=T0 + timedelta(seconds=i))
        for i in range(501)
    )
    client = client_for(viewer_user)

    assert len(ids_of(client.get("/api/decisions"))) == 50
    assert len(ids_of(client.get("/api/decisions", {"limit": 10_000}))) == 500


def test_a_bad_cursor_is_a_404_in_the_envelope(viewer_user: Any) -> None:
    response = client_for(viewer_user).get("/api/decisions", {"cursor": "garbage"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == errors.NOT_FOUND


def test_the_decision_list_takes_a_fixed_number_of_queries(
    viewer_user: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(viewer_user)
    for _ in range(3):
        make_decision(agent_key="cto")
    expected = [
        "the session",
        "the user",
        "the user's role groups (RolePermission)",
        "one page of decisions, filtered and ordered by (created_at, id), no COUNT",
    ]

    with django_assert_num_queries(len(expected)):
        assert len(ids_of(client.get("/api/decisions", {"agent": "cto", "pii": "false"}))) == 3
    for _ in range(20):
        make_decision(agent_key="cto")
    with django_assert_num_queries(len(expected)):
        assert len(ids_of(client.get("/api/decisions", {"agent": "cto", "pii": "false"}))) == 23


def test_a_decisions_detail_takes_a_fixed_number_of_queries(
    viewer_user: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(viewer_user)
    decision = make_decision()
    expected = [
        "the session",
        "the user",
        "the user's role groups, to read (RolePermission)",
        "the decision",
        "the user's role groups again, to choose whether to show prompt_full",
    ]

    with django_assert_num_queries(len(expected)):
        assert client.get(f"/api/decisions/{decision.public_id}").status_code == 200


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the index and its plan are PostgreSQL's"
)
def test_the_pii_filter_is_served_by_its_partial_index() -> None:
    Decision.objects.bulk_create(
        Decision(outcome=DecisionOutcome.SUCCESS, pii_types=["email"] if i % 100 == 0 else [])
        for i in range(2000)
    )
    params = DecisionFilter(data={"pii": "true"})
    params.is_valid(raise_exception=True)
    queryset = params.narrow(Decision.objects.all(), params.validated_data)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE routing_decision")
        # The table is small, so the planner would rightly scan it; forbid that, and the
        # plan shows whether the filter's expression matches the index's condition.
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = queryset.order_by("-created_at", "-id")[:51].explain()

    assert "decision_with_pii" in plan


# -- the change log ----------------------------------------------------------------------


def test_the_change_log_lists_entries_newest_first(viewer_user: Any) -> None:
    old = make_change_log_entry(created_at=T0, before={"a": 1}, after={"a": 2}, reason="why")
    new = make_change_log_entry(created_at=T0 + timedelta(minutes=1))

    results = client_for(viewer_user).get("/api/change-log").json()["results"]

    assert [e["id"] for e in results] == [new.pk, old.pk]
    assert results[1] == {
        "id": old.pk,
        "created_at": "2025-03-01T12:00:00Z",
        "actor": "tester",
        "source": "cli",
        "action": "provider.update",
        "target_type": "provider",
        "target_key": old.target_key,
        "before": {"a": 1},
        "after": {"a": 2},
        "reason": "why",
    }


def test_the_change_log_filters_by_target_actor_source_and_time(viewer_user: Any) -> None:
    groq = make_change_log_entry(target_key="groq", actor_label="alice", created_at=T0)
    rule = make_change_log_entry(
        target_type="routingrule",
        target_key="7",
        source=ChangeSource.API,
        created_at=T0 + timedelta(hours=1),
    )
    expiry = make_change_log_entry(
        actor_label="system", source=ChangeSource.SYSTEM, created_at=T0 + timedelta(hours=2)
    )
    client = client_for(viewer_user)

    def listed(**params: Any) -> list[int]:
        response = client.get("/api/change-log", params)
        assert response.status_code == 200, response.content
        return [e["id"] for e in response.json()["results"]]

    assert listed(target_type="routingrule") == [rule.pk]
    assert listed(target_type="provider", target_key="groq") == [groq.pk]
    assert listed(actor="alice") == [groq.pk]
    assert listed(source="system") == [expiry.pk]
    assert listed(since=(T0 + timedelta(hours=1)).isoformat()) == [expiry.pk, rule.pk]
    assert listed(until=(T0 + timedelta(hours=1)).isoformat()) == [groq.pk]
    assert client.get("/api/change-log", {"source": "carrier-pigeon"}).status_code == 400


def test_change_log_pages_follow_the_cursor_without_overlap(viewer_user: Any) -> None:
    entries = [make_change_log_entry(created_at=T0) for _ in range(3)]
    entries += [make_change_log_entry(created_at=T0 + timedelta(minutes=1)) for _ in range(2)]
    client = client_for(viewer_user)

    pages = walk(client, "/api/change-log", {"limit": 2})

    assert [len(page) for page in pages] == [2, 2, 1]
    seen = [e["id"] for page in pages for e in page]
    assert seen == [e.pk for e in sorted(entries, key=lambda e: (e.created_at, e.pk), reverse=True)]


def test_the_change_log_list_takes_a_fixed_number_of_queries(
    viewer_user: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(viewer_user)
    for _ in range(3):
        make_change_log_entry(source=ChangeSource.API)
    expected = [
        "the session",
        "the user",
        "the user's role groups (RolePermission)",
        "one page of entries; the actor is its stored label, so no join to users",
    ]

    with django_assert_num_queries(len(expected)):
        assert len(client.get("/api/change-log", {"source": "api"}).json()["results"]) == 3
    for _ in range(20):
        make_change_log_entry(source=ChangeSource.API)
    with django_assert_num_queries(len(expected)):
        assert len(client.get("/api/change-log", {"source": "api"}).json()["results"]) == 23


def test_a_change_log_entry_has_its_own_url(viewer_user: Any) -> None:
    entry = make_change_log_entry()
    client = client_for(viewer_user)

    assert client.get(f"/api/change-log/{entry.pk}").json()["id"] == entry.pk
    assert client.get(f"/api/change-log/{entry.pk + 1}").status_code == 404
