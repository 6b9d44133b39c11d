"""The audit log pages: the filtered list (full page and htmx partial), cursor pages,
the streamed CSV export, a decision's page (timeline, trace, explanation), its replay,
who may see what, and pinned query counts."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing.choices import DecisionOutcome
from routing.config_io import import_config
from routing.dashboard.audit_views import CSV_COLUMNS, MSG_NOT_REPLAYABLE
from routing.engine import RouteRequest, decide
from routing.engine.replay import decision_inputs
from routing.models import Decision, Strategy
from routing.selectors.audit import MSG_BAD_CURSOR, OLDER, Cursor, decision_page_query
from routing.services import config_revision_bump
from routing.services.decisions import Outcome, decision_record
from routing.snapshot import current_snapshot, load_runtime_state
from tests.factories import make_decision, make_strategy_override, make_user

pytestmark = pytest.mark.django_db

CONFIG = Path(__file__).resolve().parents[2] / "config"
CLOUD_PROMPT = "Architect the billing platform"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
AUDIT = "/audit"
AUDIT_CSV = "/audit.csv"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def example() -> None:
    import_config(CONFIG)


def client_for(user: Any = None, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def listed(response: Any) -> list[str]:
    """The decision ids a list page shows, in order."""
    assert response.status_code == 200, response.content
    return re.findall(r'href="/audit/([0-9a-f-]{36})"', response.content.decode())


def link(response: Any, rel: str) -> str | None:
    """The query string of the page's "newer" (prev) or "older" (next) link, unescaped."""
    found = re.search(rf'rel="{rel}" href="\?([^"]*)"', response.content.decode())
    return None if found is None else html.unescape(found.group(1))


def csv_rows(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def stored(*, attempts: Sequence[tuple[str, int, str | None]] | None = None) -> Decision:
    """A request decided by the engine on the example configuration and recorded as the
    route endpoint records it (with its inputs, so it can be replayed). `attempts` are
    (outcome, latency_ms, reason) for the chain's models in order."""
    snapshot = current_snapshot()
    now = timezone.now()
    state = load_runtime_state(snapshot=snapshot, session_id=None, now=now)
    request = RouteRequest(text=CLOUD_PROMPT, agent="cto_agent")
    decision = decide(request, snapshot, state, now=now)
    chain = [c.model for c in decision.chain]
    tried = [
        {
            "model": chain[i % len(chain)],
            "provider": "p",
            "outcome": o,
            "reason": r,
            "latency_ms": ms,
        }
        for i, (o, ms, r) in enumerate(attempts or [("success", 100, None)])
    ]
    outcome = Outcome(
        "success",
        model_used=tried[-1]["model"],
        provider=snapshot.models[tried[-1]["model"]].provider,
        attempts=tried,
        latency_ms=sum(a["latency_ms"] for a in tried),
    )
    return decision_record(
        decision=decision,
        outcome=outcome,
        prompt_text=CLOUD_PROMPT,
        inputs=decision_inputs(request, state, now),
        api_key=None,
        agent="cto_agent",
        task_id=None,
        session_id=None,
    )


# -- access ---------------------------------------------------------------------------------


def _paths() -> list[tuple[str, str]]:
    some = "00000000-0000-0000-0000-000000000001"
    return [
        ("get", AUDIT),
        ("get", AUDIT_CSV),
        ("get", f"/audit/{some}"),
        ("post", f"/audit/{some}/replay"),
    ]


def test_the_urls_have_their_names() -> None:
    some = uuid.uuid4()
    assert reverse("dashboard:audit") == AUDIT
    assert reverse("dashboard:audit_csv") == AUDIT_CSV
    assert reverse("dashboard:decision", args=[some]) == f"/audit/{some}"
    assert reverse("dashboard:decision_replay", args=[some]) == f"/audit/{some}/replay"


@pytest.mark.parametrize(("method", "path"), _paths())
def test_anonymous_users_are_sent_to_the_login_page(method: str, path: str) -> None:
    response = getattr(client_for(), method)(path)

    assert response.status_code == 302
    location = response["Location"]
    assert "login" in location or "accounts/login" in location
    assert "next=" in location


def test_an_anonymous_htmx_request_sends_the_whole_browser_to_the_login_page() -> None:
    response = client_for().get(AUDIT, {"agent": "x"}, **HTMX)

    # Not a redirect htmx would follow and swap the login form into the results.
    assert response.status_code == 200
    assert "login" in response["HX-Redirect"]


@pytest.mark.parametrize(("method", "path"), _paths())
def test_a_user_without_a_role_is_refused(method: str, path: str) -> None:
    response = getattr(client_for(make_user(role=None)), method)(path)

    assert response.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_reads_the_audit_log_and_a_decision(role: str) -> None:
    row = make_decision()
    client = client_for(make_user(role=role))

    assert listed(client.get(AUDIT)) == [str(row.public_id)]
    assert client.get(f"/audit/{row.public_id}").status_code == 200
    assert client.get(AUDIT_CSV).status_code == 200


def test_an_unknown_decision_is_a_404(viewer_user: Any) -> None:
    assert client_for(viewer_user).get(f"/audit/{uuid.uuid4()}").status_code == 404


# -- the list: full page and htmx partial --------------------------------------------------------


def test_the_list_is_a_full_page_and_with_htmx_only_the_results(viewer_user: Any) -> None:
    row = make_decision(agent_key="cto_agent", pii_types=["email"], local_only=True)
    client = client_for(viewer_user)

    page = client.get(AUDIT)
    partial = client.get(AUDIT, **HTMX)

    for response in (page, partial):
        assert response.status_code == 200
        assert "HX-Request" in response["Vary"]
        assert listed(response) == [str(row.public_id)]
        assert 'id="audit-results"' in response.content.decode()
        assert "PII: email" in response.content.decode()
        assert "local only" in response.content.decode()
    assert "<html" in page.content.decode()
    assert '<form class="audit-filters"' in page.content.decode()
    assert 'hx-get="/audit"' in page.content.decode()
    assert 'hx-push-url="true"' in page.content.decode()
    assert "<html" not in partial.content.decode()
    assert "audit-filters" not in partial.content.decode()
    assert partial.content.decode().lstrip().startswith('<div id="audit-results">')


def test_a_history_restore_gets_the_full_page(viewer_user: Any) -> None:
    response = client_for(viewer_user).get(
        AUDIT, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    assert "<html" in response.content.decode()


def test_an_empty_log_says_what_to_do_next(viewer_user: Any) -> None:
    content = client_for(viewer_user).get(AUDIT).content.decode()

    assert "No request has been routed yet." in content
    assert "/api/route" in content


def test_a_filter_matching_nothing_says_how_to_widen_it(viewer_user: Any) -> None:
    make_decision(agent_key="cto_agent")

    content = client_for(viewer_user).get(AUDIT, {"agent": "nobody"}).content.decode()

    assert "No decision matches these filters." in content
    assert "clear all filters" in content


@pytest.fixture
def varied() -> dict[str, Decision]:
    return {
        "plain": make_decision(
            created_at=T0,
            agent_key="cto_agent",
            model_used="llama-3-70b",
            outcome=DecisionOutcome.SUCCESS,
            strategy="balanced",
        ),
        "pii": make_decision(
            created_at=T0 + timedelta(hours=1),
            agent_key="qa_agent",
            model_used="claude-3-opus",
            outcome=DecisionOutcome.FAILED,
            strategy="privacy_first",
            pii_types=["email", "phone"],
        ),
        "late": make_decision(
            created_at=T0 + timedelta(hours=2),
            agent_key="qa_agent",
            model_used="",
            outcome=DecisionOutcome.REFUSED,
            strategy="balanced",
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["late", "pii", "plain"]),
        ({"agent": "qa_agent"}, ["late", "pii"]),
        ({"model": "llama-3-70b"}, ["plain"]),
        ({"outcome": "failed"}, ["pii"]),
        ({"strategy": "balanced"}, ["late", "plain"]),
        ({"pii": "true"}, ["pii"]),
        ({"pii": "false"}, ["late", "plain"]),
        ({"pii": ""}, ["late", "pii", "plain"]),  # the form's "any"
        ({"since": "2025-03-01T13:00:00"}, ["late", "pii"]),  # inclusive
        ({"until": "2025-03-01T13:00:00"}, ["plain"]),  # exclusive
        ({"since": "2025-03-01T12:30", "until": "2025-03-01T14:00:00+00:00"}, ["pii"]),
        ({"agent": "qa_agent", "strategy": "balanced", "pii": "false"}, ["late"]),
        ({"agent": "", "model": "", "outcome": "", "strategy": ""}, ["late", "pii", "plain"]),
    ],
)
def test_each_filter_narrows_the_list(
    viewer_user: Any, varied: dict[str, Decision], params: dict[str, str], expected: list[str]
) -> None:
    client = client_for(viewer_user)

    for headers in ({}, HTMX):
        shown = listed(client.get(AUDIT, params, **headers))
        assert shown == [str(varied[name].public_id) for name in expected]


def test_the_form_shows_the_filters_in_force(viewer_user: Any) -> None:
    params = {"agent": "qa_agent", "outcome": "failed", "pii": "true", "since": "2025-03-01T12:30"}

    content = client_for(viewer_user).get(AUDIT, params).content.decode()

    assert 'name="agent" value="qa_agent"' in content
    assert '<option value="failed" selected>' in content
    assert '<option value="true" selected>yes</option>' in content
    assert 'name="since" value="2025-03-01T12:30:00"' in content


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"outcome": "exploded"}, "outcome"),
        ({"pii": "maybe"}, "pii"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-03-02T00:00:00", "until": "2025-03-01T00:00:00"}, "until"),
    ],
)
def test_a_bad_filter_is_shown_instead_of_an_unfiltered_list(
    viewer_user: Any, params: dict[str, str], field: str
) -> None:
    make_decision()

    response = client_for(viewer_user).get(AUDIT, params)

    assert listed(response) == []
    assert f"<li>{field}: " in response.content.decode()


# -- cursor pages -------------------------------------------------------------------------------


@pytest.fixture
def many() -> list[Decision]:
    """120 decisions, newest first; timestamps shared by runs of 7 so that ties straddle
    the page boundaries."""
    Decision.objects.bulk_create(
        Decision(
            created_at=T0 + timedelta(seconds=i // 7),
            outcome=DecisionOutcome.SUCCESS,
            agent_key="cto_agent" if i % 3 else "qa_agent",
        )
        for i in range(120)
    )
    return list(Decision.objects.order_by("-created_at", "-id"))


def test_cursor_pages_do_not_overlap_and_cover_every_row(
    viewer_user: Any, many: list[Decision]
) -> None:
    client = client_for(viewer_user)
    responses = [client.get(AUDIT)]
    while (older := link(responses[-1], "next")) is not None:
        responses.append(client.get(f"{AUDIT}?{older}", **HTMX))
    pages = [listed(r) for r in responses]

    assert [len(p) for p in pages] == [50, 50, 20]
    assert [i for page in pages for i in page] == [str(d.public_id) for d in many]
    assert link(responses[0], "prev") is None
    assert all(link(r, "prev") for r in responses[1:])
    # And back: "newer" from the last page gives the middle page again, exactly.
    back = client.get(f"{AUDIT}?{link(responses[-1], 'prev')}")
    assert listed(back) == pages[1]
    assert link(back, "next") is not None
    first = client.get(f"{AUDIT}?{link(back, 'prev')}", **HTMX)
    assert listed(first) == pages[0]
    assert link(first, "prev") is None


def test_cursor_pages_keep_the_filters(viewer_user: Any, many: list[Decision]) -> None:
    client = client_for(viewer_user)
    cto = [str(d.public_id) for d in many if d.agent_key == "cto_agent"]

    first = client.get(AUDIT, {"agent": "cto_agent"})
    older = link(first, "next")
    second = client.get(f"{AUDIT}?{older}", **HTMX)

    assert older is not None
    assert older.startswith("agent=cto_agent&cursor=")
    assert link(second, "next") is None
    assert link(second, "prev").startswith("agent=cto_agent&cursor=")
    assert listed(first) + listed(second) == cto


def test_the_cursor_is_opaque_and_a_bad_one_is_refused(viewer_user: Any) -> None:
    row = make_decision(created_at=T0)
    token = Cursor(OLDER, row.created_at, row.id).encode()

    response = client_for(viewer_user).get(AUDIT, {"cursor": "not-a-cursor"})

    assert Cursor.decode(token) == Cursor(OLDER, T0, row.id)
    assert "2025" not in token
    assert listed(response) == []
    assert MSG_BAD_CURSOR in response.content.decode()


# -- the CSV export ------------------------------------------------------------------------------


def test_the_csv_streams_exactly_the_filtered_rows(
    viewer_user: Any, varied: dict[str, Decision]
) -> None:
    params = {"strategy": "balanced", "since": "2025-03-01T11:00:00", "until": "2025-03-02T00:00"}

    response = client_for(viewer_user).get(AUDIT_CSV, params)

    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="decisions_20250301T110000Z_20250302T000000Z.csv"'
    )
    rows = csv_rows(response)
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["decision_id"] for r in rows] == [
        str(varied["late"].public_id),
        str(varied["plain"].public_id),
    ]
    assert rows[1]["agent"] == "cto_agent"
    assert rows[1]["model_used"] == "llama-3-70b"
    assert rows[1]["created_at"] == "2025-03-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"agent": "qa_agent"}, ["late", "pii"]),
        ({"model": "claude-3-opus"}, ["pii"]),
        ({"outcome": "refused"}, ["late"]),
        ({"strategy": "privacy_first"}, ["pii"]),
        ({"pii": "false"}, ["late", "plain"]),
        ({"until": "2025-03-01T13:00:00"}, ["plain"]),
    ],
)
def test_the_csv_and_the_list_agree_on_every_filter(
    viewer_user: Any, varied: dict[str, Decision], params: dict[str, str], expected: list[str]
) -> None:
    client = client_for(viewer_user)
    ids = [str(varied[name].public_id) for name in expected]

    exported = [r["decision_id"] for r in csv_rows(client.get(AUDIT_CSV, params))]

    assert exported == ids
    assert listed(client.get(AUDIT, params)) == ids


def test_the_csv_of_an_open_range_is_named_up_to_now(viewer_user: Any) -> None:
    response = client_for(viewer_user).get(AUDIT_CSV)

    filename = response["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="decisions_start_\d{8}T\d{6}Z\.csv"', filename)
    assert csv_rows(response) == []


def test_the_csv_refuses_a_bad_filter(viewer_user: Any) -> None:
    response = client_for(viewer_user).get(AUDIT_CSV, {"outcome": "exploded"})

    assert response.status_code == 400
    assert b"outcome" in response.content


def test_the_csv_keeps_spreadsheets_from_running_a_value_as_a_formula(viewer_user: Any) -> None:
    make_decision(agent_key="=HYPERLINK(1)", cost_usd=Decimal("0.25"))

    row = csv_rows(client_for(viewer_user).get(AUDIT_CSV))[0]

    assert row["agent"] == "'=HYPERLINK(1)"
    assert row["cost_usd"] == "0.25000000"


def test_the_list_links_to_the_csv_of_the_same_filters(viewer_user: Any) -> None:
    make_decision(agent_key="cto_agent")

    content = client_for(viewer_user).get(AUDIT, {"agent": "cto_agent"}).content.decode()

    assert 'href="/audit.csv?agent=cto_agent"' in content


# -- one decision ---------------------------------------------------------------------------------


def test_a_decision_shows_its_attempts_on_a_timeline(example: None, viewer_user: Any) -> None:
    row = stored(attempts=[("rejected", 300, "http_5xx"), ("success", 900, None)])

    content = client_for(viewer_user).get(f"/audit/{row.public_id}").content.decode()

    first, second = row.attempts
    assert 'class="bar rejected" style="left: 0.00%; width: 25.00%"' in content
    assert 'class="bar success" style="left: 25.00%; width: 75.00%"' in content
    assert f"1. {first['model']}" in content
    assert f"2. {second['model']}" in content
    assert "<strong>rejected</strong>, 300 ms: http_5xx" in content
    assert "scaled to 1200 ms in all" in content


def test_a_decision_shows_its_trace_and_explanation(example: None, viewer_user: Any) -> None:
    row = stored()

    response = client_for(viewer_user).get(f"/audit/{row.public_id}")

    content = response.content.decode()
    assert 'id="trace"' in content
    for step in row.trace["steps"]:
        assert f"<td>{step['step']}</td>" in content
    assert "Strategy balanced was used (default)." in content
    assert f"Answered by {row.model_used}" in content
    assert f"replayed on configuration version {row.config_version}" in content
    assert f'hx-post="/audit/{row.public_id}/replay"' in content


def test_a_decision_without_attempts_or_trace_says_so(viewer_user: Any) -> None:
    row = make_decision(outcome=DecisionOutcome.REFUSED, error_code="denied_by_rule")

    content = client_for(viewer_user).get(f"/audit/{row.public_id}").content.decode()

    assert "No model was called for this decision" in content
    assert "This decision keeps no trace steps." in content
    assert "Refused before any model was called (denied_by_rule)." in content
    assert "cannot be replayed" in content


@pytest.mark.parametrize(
    ("role", "sees_full_prompt"), [("viewer", False), ("operator", False), ("admin", True)]
)
def test_only_admins_see_the_full_prompt(role: str, sees_full_prompt: bool) -> None:
    row = make_decision(prompt_excerpt="Email [EMAIL] the plan", prompt_full="Email a@b.c the plan")

    content = client_for(make_user(role=role)).get(f"/audit/{row.public_id}").content.decode()

    assert "Email [EMAIL] the plan" in content
    assert ("Email a@b.c the plan" in content) is sees_full_prompt
    assert ('id="prompt-full"' in content) is sees_full_prompt


def test_a_superuser_sees_the_full_prompt(admin_user: Any) -> None:
    row = make_decision(prompt_full="the whole prompt")

    content = client_for(admin_user).get(f"/audit/{row.public_id}").content.decode()

    assert "the whole prompt" in content


# -- replay ------------------------------------------------------------------------------------


def test_replay_with_htmx_answers_with_the_result_only(example: None, viewer_user: Any) -> None:
    row = stored()

    response = client_for(viewer_user).post(f"/audit/{row.public_id}/replay", **HTMX)

    content = response.content.decode()
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    assert content.lstrip().startswith('<div id="replay">')
    assert re.search(r"Reproduced:</strong>\s*yes\s*</p>", content)
    assert "Nothing would differ" in content


def test_replay_shows_what_would_differ_now(example: None, viewer_user: Any) -> None:
    row = stored()
    make_strategy_override(strategy=Strategy.objects.get(key="privacy_first"))
    config_revision_bump()

    response = client_for(viewer_user).post(f"/audit/{row.public_id}/replay", **HTMX)

    content = html.unescape(response.content.decode())
    assert re.search(r"Reproduced:</strong>\s*yes\s*</p>", content)
    assert "<td>strategy</td><td><code>balanced</code></td><td><code>privacy_first</code></td>" in (
        content
    )
    assert "<td>local_only</td><td><code>False</code></td><td><code>True</code></td>" in content


def test_replay_without_javascript_answers_with_the_page_and_the_result(
    example: None, viewer_user: Any
) -> None:
    row = stored()

    response = client_for(viewer_user).post(f"/audit/{row.public_id}/replay")

    content = response.content.decode()
    assert "<html" in content
    assert 'id="timeline"' in content
    assert "Reproduced exactly on its own configuration" in content


def test_replay_of_a_decision_without_inputs_says_why(viewer_user: Any) -> None:
    row = make_decision()

    response = client_for(viewer_user).post(f"/audit/{row.public_id}/replay", **HTMX)

    assert response.status_code == 200
    assert MSG_NOT_REPLAYABLE in response.content.decode()


def test_replay_needs_the_csrf_token(example: None, viewer_user: Any) -> None:
    row = stored()
    client = client_for(viewer_user, enforce_csrf_checks=True)
    url = f"/audit/{row.public_id}/replay"

    refused = client.post(url, **HTMX)
    client.get(f"/audit/{row.public_id}")  # sets the CSRF cookie, as a browser's first paint
    token = client.cookies["csrftoken"].value
    accepted = client.post(url, HTTP_X_CSRFTOKEN=token, **HTMX)

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert "Reproduced:" in accepted.content.decode()


def test_replay_is_a_post(viewer_user: Any) -> None:
    row = make_decision()

    assert client_for(viewer_user).get(f"/audit/{row.public_id}/replay").status_code == 405


# -- query counts -------------------------------------------------------------------------------


@pytest.fixture
def warm_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner in _base.html reads force-local from the cached configuration snapshot,
    which re-checks the version after CONFIG_VERSION_TTL (1 s): stretch it, so a slow run
    does not add that query to a count."""
    monkeypatch.setattr("routing.snapshot.CONFIG_VERSION_TTL", 3600.0)


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["full page", "htmx partial"])
def test_the_list_takes_a_fixed_number_of_queries(
    warm_snapshot: None,
    viewer_user: Any,
    many: list[Decision],
    django_assert_num_queries: Any,
    headers: dict[str, str],
) -> None:
    client = client_for(viewer_user)
    older = link(client.get(AUDIT), "next")  # also warms the configuration snapshot
    expected = [
        "the session",
        "the user",
        "the user's role groups (role_required)",
        "one page of decisions: filtered, keyset on (created_at, id), 51 rows, no COUNT",
    ]
    if not headers:
        expected.append("the user's role groups again, for the role shown in the top bar")

    with django_assert_num_queries(len(expected)):
        assert len(listed(client.get(AUDIT, {"pii": "false"}, **headers))) == 50
    with django_assert_num_queries(len(expected)):
        assert len(listed(client.get(f"{AUDIT}?{older}", **headers))) == 50


def test_a_decision_page_takes_a_fixed_number_of_queries(
    warm_snapshot: None, example: None, viewer_user: Any, django_assert_num_queries: Any
) -> None:
    client = client_for(viewer_user)
    row = stored(attempts=[("rejected", 300, "http_5xx"), ("success", 900, None)])
    client.get(AUDIT)  # warms the configuration snapshot, as any earlier page would
    expected = [
        "the session",
        "the user",
        "the user's role groups (role_required)",
        "the decision",
        "the user's role groups again: admin for the full prompt, and the top bar",
        "its configuration version's snapshot, for the chain's scores in the explanation",
    ]

    with django_assert_num_queries(len(expected)):
        assert client.get(f"/audit/{row.public_id}").status_code == 200


def _copies_of(row: Decision, n: int) -> None:
    """n copies of `row` one second apart, made by PostgreSQL itself (the ORM would take
    seconds): every 200th by "rare_agent", every 100th with PII."""
    computed = {
        "public_id": "gen_random_uuid()",
        "created_at": "created_at + g * interval '1 second'",
        "agent_key": "CASE WHEN g %% 200 = 0 THEN 'rare_agent' ELSE 'agent-' || (g %% 5) END",
        "pii_types": "CASE WHEN g %% 100 = 0 THEN '[\"email\"]'::jsonb ELSE '[]'::jsonb END",
    }
    columns = [f.column for f in Decision._meta.concrete_fields if not f.primary_key]
    values = ", ".join(computed.get(c, c) for c in columns)
    with connection.cursor() as c:
        c.execute(
            f"INSERT INTO routing_decision ({', '.join(columns)}) "  # noqa: S608 (our own names)
            f"SELECT {values} FROM routing_decision, generate_series(1, %s) AS g WHERE id = %s",
            [n, row.id],
        )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the indexes and their plans are PostgreSQL's"
)
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "decision_recent"),
        ({"agent": "rare_agent"}, "decision_by_agent"),
        ({"pii": True}, "decision_with_pii"),
    ],
)
def test_a_deep_page_is_an_index_range_scan_without_a_full_sort(
    filters: dict[str, Any], index: str
) -> None:
    _copies_of(make_decision(created_at=T0), 20_000)
    cursor = Cursor(OLDER, T0 + timedelta(seconds=15_000), 10**12)
    with connection.cursor() as c:
        c.execute("ANALYZE routing_decision")

    plan = decision_page_query(filters, cursor)[:51].explain()

    assert index in plan
    # The index gives created_at order; at most an incremental sort sorts ties by id,
    # and stops at the 51st row, where a full sort would read the whole range first.
    sorts = [line for line in plan.splitlines() if "Sort" in line and "Key" not in line]
    assert all("Incremental Sort" in line for line in sorts), plan
