"""The routing-control page (/control), the change log (/changes), logging in and out, and
the force-local banner, through Django's test client.

Each page twice: the full page, and the htmx partial (`HX-Request: true`) with
`Vary: HX-Request`. Each role: anonymous (to the login page), no role (403), viewer
(state only, every write 403 and nothing changed), operator (overrides), admin
(force-local too). CSRF enforced on every write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from routing.choices import ChangeSource, ModelType
from routing.dashboard import control_forms, control_views
from routing.dashboard.control_views import DiffLine, change_diff
from routing.models import (
    AgentModelOverride,
    ChangeLogEntry,
    ControlState,
    StrategyOverride,
    TaskOverride,
)
from routing.services.durations import MSG_NOT_A_DURATION, MSG_NOT_POSITIVE
from routing.services.overrides import (
    MSG_NO_REASON,
    agent_model_override_set,
    force_local_set,
    strategy_override_set,
    task_override_set,
)
from tests.factories import (
    make_agent,
    make_change_log_entry,
    make_model,
    make_strategy,
    make_user,
)

pytestmark = pytest.mark.django_db

CONTROL = "/control"
CHANGES = "/changes"
HTMX = {"HX-Request": "true"}
SWITCH = {"strategy": "privacy_first", "duration": "1h", "reason": "incident 42"}


@pytest.fixture
def world() -> dict[str, Any]:
    """Two strategies (balanced is the default), an agent, a local and a cloud model."""
    return {
        "balanced": make_strategy(key="balanced"),
        "privacy_first": make_strategy(key="privacy_first", allow_cloud=False),
        "agent": make_agent(key="backend"),
        "local": make_model(key="local-a"),
        "cloud": make_model(key="cloud-a", type=ModelType.CLOUD),
    }


def logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def as_role(request: pytest.FixtureRequest) -> Callable[[str], Client]:
    def make(name: str) -> Client:
        fixture = {
            "viewer": "viewer_user",
            "operator": "operator_user",
            "admin": "admin_role_user",
            "superuser": "admin_user",
        }[name]
        return logged_in(request.getfixturevalue(fixture))

    return make


def html(response: Any) -> str:
    return response.content.decode()


def vary(response: Any) -> set[str]:
    return {v.strip().lower() for v in response.get("Vary", "").split(",")}


def nothing_changed() -> bool:
    return not (
        StrategyOverride.objects.exists()
        or AgentModelOverride.objects.exists()
        or TaskOverride.objects.exists()
        or ChangeLogEntry.objects.exists()
        or ControlState.objects.filter(force_local=True).exists()
    )


# The writes, with a body each role above viewer could send successfully.
WRITES = [
    ("/control/strategy", SWITCH, "operator"),
    ("/control/strategy/end", {}, "operator"),
    (
        "/control/agent-model",
        {"agent": "backend", "model": "local-a", "duration": "2h", "reason": "review"},
        "operator",
    ),
    ("/control/agent-model/end", {"agent": "backend"}, "operator"),
    (
        "/control/task",
        {"task_id": "t-1", "model": "cloud-a", "duration": "15m", "reason": "architecture"},
        "operator",
    ),
    ("/control/task/end", {"task_id": "t-1"}, "operator"),
    ("/control/force-local", {"enabled": "on", "reason": "outage"}, "admin"),
]


# -- logging in and out -----------------------------------------------------------------------


def test_the_login_page_is_a_form_and_logs_a_user_in_to_where_they_were_going(
    operator_user: Any,
) -> None:
    client = Client()
    page = client.get("/accounts/login/?next=/control")
    assert page.status_code == 200
    assert 'name="username"' in html(page)
    assert 'name="password"' in html(page)
    assert 'value="/control"' in html(page)
    assert "Log out" not in html(page)  # no navigation for anonymous visitors

    response = client.post(
        "/accounts/login/",
        {"username": "operator", "password": "password", "next": "/control"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/control"
    assert client.get(CONTROL).status_code == 200


def test_a_wrong_password_is_refused_on_the_login_page(operator_user: Any) -> None:
    response = Client().post("/accounts/login/", {"username": "operator", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in html(response)


def test_logging_out_takes_a_post_and_ends_the_session(operator_user: Any) -> None:
    client = logged_in(operator_user)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(CONTROL).status_code == 302


# -- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CONTROL, CHANGES])
def test_anonymous_visitors_are_sent_to_the_login_page(world: Any, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_an_anonymous_htmx_request_sends_the_whole_browser_to_the_login_page(world: Any) -> None:
    response = Client().get(CONTROL, headers=HTMX | {"HX-Current-URL": "http://testserver/changes"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/changes"


@pytest.mark.parametrize(("path", "body", "needs"), WRITES)
def test_an_anonymous_write_changes_nothing(world: Any, path: str, body: Any, needs: str) -> None:
    response = Client().post(path, body)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert nothing_changed()


@pytest.mark.parametrize("path", [CONTROL, CHANGES])
def test_a_user_without_a_role_gets_403(world: Any, path: str) -> None:
    client = logged_in(make_user(role=None))
    assert client.get(path).status_code == 403
    assert client.post("/control/strategy", SWITCH).status_code == 403
    assert nothing_changed()


@pytest.mark.parametrize("method", ["put", "delete"])
def test_pages_take_only_their_methods(as_role: Any, world: Any, method: str) -> None:
    client = as_role("admin")
    assert getattr(client, method)(CONTROL).status_code == 405
    assert client.get("/control/strategy").status_code == 405


# -- each role --------------------------------------------------------------------------------


def test_a_viewer_sees_the_state_and_no_forms(as_role: Any, world: Any) -> None:
    strategy_override_set(
        strategy=world["privacy_first"],
        duration=timedelta(hours=1),
        reason="incident",
        actor=None,
        source=ChangeSource.CLI,
    )
    page = html(as_role("viewer").get(CONTROL))
    assert 'data-testid="active-strategy">privacy_first<' in page
    assert "from the global override" in page
    assert "data-expires=" in page
    assert "<form" not in page.split('id="control-panel"')[1]
    assert "End now" not in page
    assert "Force-local mode" not in page


@pytest.mark.parametrize(("path", "body", "needs"), WRITES)
def test_a_viewers_write_is_refused_and_changes_nothing(
    as_role: Any, world: Any, path: str, body: Any, needs: str
) -> None:
    response = as_role("viewer").post(path, body)
    assert response.status_code == 403
    assert nothing_changed()


@pytest.mark.parametrize(("path", "body", "needs"), WRITES)
@pytest.mark.parametrize("who", ["operator", "admin", "superuser"])
def test_each_write_is_allowed_exactly_to_the_roles_that_may_make_it(
    as_role: Any, world: Any, who: str, path: str, body: Any, needs: str
) -> None:
    response = as_role(who).post(path, body)
    allowed = needs == "operator" or who in {"admin", "superuser"}
    assert response.status_code == (302 if allowed else 403), html(response)[:500]
    if allowed:
        assert response["Location"] == CONTROL
    else:
        assert nothing_changed()


def test_an_operator_gets_the_override_forms_but_not_force_local(as_role: Any, world: Any) -> None:
    page = html(as_role("operator").get(CONTROL))
    for form in ("strategy-form", "agent-model-form", "task-form"):
        assert f'id="{form}"' in page
    assert 'id="force-local-form"' not in page
    assert "/control/force-local" not in page
    for label in ("15 min", "1 hour", "2 hours", "8 hours", "Custom"):
        assert label in page


@pytest.mark.parametrize("who", ["admin", "superuser"])
def test_an_admin_also_gets_the_force_local_toggle(as_role: Any, world: Any, who: str) -> None:
    page = html(as_role(who).get(CONTROL))
    assert 'id="force-local-form"' in page
    assert "Turn force-local on" in page


# -- full page and htmx partial ---------------------------------------------------------------


@pytest.mark.parametrize("path", [CONTROL, CHANGES])
def test_a_page_is_whole_and_its_htmx_partial_is_only_the_panel(
    as_role: Any, world: Any, path: str
) -> None:
    client = as_role("operator")
    full = client.get(path)
    assert full.status_code == 200
    assert html(full).startswith("<!doctype html>")
    assert 'hx-headers=\'{"X-CSRFToken": "' in html(full)
    assert "hx-request" in vary(full)

    partial = client.get(path, headers=HTMX)
    assert partial.status_code == 200
    assert "<html" not in html(partial)
    assert "topbar" not in html(partial)
    panel = "control-panel" if path == CONTROL else "change-log-results"
    assert html(partial).lstrip().startswith(f'<div id="{panel}"') or (
        f'<div id="{panel}"' in html(partial) and "<body" not in html(partial)
    )
    assert "hx-request" in vary(partial)


def test_an_htmx_history_restore_gets_the_whole_page(as_role: Any, world: Any) -> None:
    response = as_role("operator").get(
        CHANGES, headers=HTMX | {"HX-History-Restore-Request": "true"}
    )
    assert html(response).startswith("<!doctype html>")
    assert "hx-request" in vary(response)


# -- switching, ending, and what the change log records ---------------------------------------


def test_switching_the_strategy_writes_one_change_log_entry_from_the_dashboard(
    as_role: Any, world: Any, operator_user: Any
) -> None:
    client = as_role("operator")
    response = client.post("/control/strategy", SWITCH)
    assert response.status_code == 302

    override = StrategyOverride.objects.get()
    assert override.strategy == world["privacy_first"]
    assert override.agent is None
    assert override.expires_at - override.starts_at == timedelta(hours=1)
    entry = ChangeLogEntry.objects.get()
    assert entry.source == ChangeSource.DASHBOARD
    assert entry.actor == operator_user
    assert entry.action == "strategy_override.set"
    assert entry.reason == "incident 42"

    page = html(client.get(CONTROL))
    assert 'data-testid="active-strategy">privacy_first<' in page
    assert (
        control_views.MSG_STRATEGY_SET.format(
            strategy="privacy_first", target="all requests", duration="1h"
        ).replace("'", "&#x27;")
        in page
    )
    assert f'data-expires="{override.expires_at.isoformat()}"' in page
    assert re.search(r'class="countdown"[^>]*>(59m\d+s|1h)<', page)


def test_an_htmx_switch_answers_with_the_panel_and_the_countdown(as_role: Any, world: Any) -> None:
    response = as_role("operator").post(
        "/control/strategy", SWITCH | {"duration": "custom", "custom_duration": "90m"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "hx-request" in vary(response)
    body = html(response)
    assert '<div id="control-panel"' in body
    assert 'hx-trigger="countdown-ended"' in body
    assert "<html" not in body
    override = StrategyOverride.objects.get()
    assert override.expires_at - override.starts_at == timedelta(minutes=90)
    assert ChangeLogEntry.objects.filter(source=ChangeSource.DASHBOARD).count() == 1


def test_a_switch_for_one_agent_overrides_only_that_agent(as_role: Any, world: Any) -> None:
    as_role("operator").post("/control/strategy", SWITCH | {"agent": "backend"})
    override = StrategyOverride.objects.get()
    assert override.agent == world["agent"]
    page = html(as_role("operator").get(CONTROL))
    assert 'data-testid="active-strategy">balanced<' in page  # all requests: unchanged
    assert "agent <code>backend</code>" in page


def test_end_now_ends_the_override_early_and_records_it(
    as_role: Any, world: Any, operator_user: Any
) -> None:
    client = as_role("operator")
    client.post("/control/strategy", SWITCH)
    response = client.post("/control/strategy/end", {"agent": ""}, headers=HTMX)
    assert response.status_code == 200
    assert 'data-testid="active-strategy">balanced<' in html(response)
    assert "No strategy override is in force." in html(response)

    override = StrategyOverride.objects.get()
    assert override.ended_at is not None
    assert override.ended_by_label == "operator"
    ended = ChangeLogEntry.objects.get(action="strategy_override.end")
    assert ended.source == ChangeSource.DASHBOARD
    assert ended.after is None
    assert ended.reason == control_views.DEFAULT_END_REASON


def test_ending_when_nothing_is_in_force_says_so_and_records_nothing(
    as_role: Any, world: Any
) -> None:
    response = as_role("operator").post("/control/strategy/end", {}, headers=HTMX)
    assert response.status_code == 200
    expected = control_views.MSG_NOTHING_TO_END.format(target="all requests")
    assert expected in html(response)
    assert not ChangeLogEntry.objects.exists()


def test_ending_for_an_unknown_agent_says_so_at_the_top_and_changes_nothing(
    as_role: Any, world: Any
) -> None:
    response = as_role("operator").post(
        "/control/agent-model/end", {"agent": "ghost"}, headers=HTMX
    )
    assert response.status_code == 200
    message = control_forms.MSG_UNKNOWN_AGENT.format(key="ghost").replace("'", "&#x27;")
    assert f'<li class="notice notice-error" role="status">{message}</li>' in html(response)
    assert nothing_changed()


def test_an_agent_model_pin_and_a_task_override_are_set_and_ended_through_the_services(
    as_role: Any, world: Any
) -> None:
    client = as_role("operator")
    client.post(
        "/control/agent-model",
        {"agent": "backend", "model": "local-a", "duration": "8h", "reason": "review"},
    )
    client.post(
        "/control/task",
        {"task_id": "t-1", "model": "cloud-a", "duration": "2h", "reason": "architecture"},
    )
    page = html(client.get(CONTROL))
    assert "<code>backend</code>" in page
    assert "<code>t-1</code>" in page
    assert AgentModelOverride.objects.get().model == world["local"]
    assert TaskOverride.objects.get().model == world["cloud"]

    client.post("/control/agent-model/end", {"agent": "backend"})
    client.post("/control/task/end", {"task_id": "t-1"})
    assert not AgentModelOverride.objects.filter(ended_at__isnull=True).exists()
    assert not TaskOverride.objects.filter(ended_at__isnull=True).exists()
    actions = list(ChangeLogEntry.objects.order_by("id").values_list("action", "source"))
    assert actions == [
        ("agent_model_override.set", "dashboard"),
        ("task_override.set", "dashboard"),
        ("agent_model_override.end", "dashboard"),
        ("task_override.end", "dashboard"),
    ]


def test_an_expired_override_is_gone_from_the_page(as_role: Any, world: Any) -> None:
    client = as_role("operator")
    client.post("/control/strategy", SWITCH | {"duration": "15m"})
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        page = html(client.get(CONTROL, headers=HTMX))
    assert 'data-testid="active-strategy">balanced<' in page
    assert "data-expires" not in page


# -- refusals next to their field -------------------------------------------------------------


def _field_errors(page: str, field_id: str) -> str:
    """The error list Django renders just before the field's widget."""
    widget = page.index(f'id="{field_id}"')
    start = page.rfind('<div class="field', 0, widget)
    return page[start:widget]


@pytest.mark.parametrize(
    ("body", "field_id", "message"),
    [
        (
            {"duration": "custom", "custom_duration": "90x"},
            "strategy_custom_duration",
            MSG_NOT_A_DURATION.format(value="90x"),
        ),
        (
            {"duration": "custom", "custom_duration": "0m"},
            "strategy_custom_duration",
            MSG_NOT_POSITIVE.format(value="0m"),
        ),
        (
            {"duration": "custom", "custom_duration": ""},
            "strategy_custom_duration",
            control_forms.MSG_CUSTOM_MISSING,
        ),
        (
            {"strategy": "nope"},
            "strategy_strategy",
            control_forms.MSG_UNKNOWN_STRATEGY.format(key="nope", known="balanced, privacy_first"),
        ),
        ({"reason": ""}, "strategy_reason", "This field is required."),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_a_refused_switch_shows_the_error_next_to_its_field_and_changes_nothing(
    as_role: Any, world: Any, body: dict[str, str], field_id: str, message: str, htmx: bool
) -> None:
    response = as_role("operator").post(
        "/control/strategy", SWITCH | body, headers=HTMX if htmx else {}
    )
    # htmx swaps only 2xx answers; a plain form post gets the page back with a 400.
    assert response.status_code == (200 if htmx else 400)
    page = html(response)
    escaped = message.replace("'", "&#x27;").replace('"', "&quot;")
    assert escaped in _field_errors(page, field_id)
    assert nothing_changed()


def test_a_services_refusal_lands_on_the_field_it_is_about(
    as_role: Any, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: Any) -> None:
        raise ValueError(MSG_NO_REASON)

    monkeypatch.setattr(control_views.overrides, "strategy_override_set", refuse)
    response = as_role("operator").post("/control/strategy", SWITCH, headers=HTMX)
    assert MSG_NO_REASON in _field_errors(html(response), "strategy_reason")


def test_a_force_local_duration_is_parsed_by_the_service_parser(as_role: Any, world: Any) -> None:
    response = as_role("admin").post(
        "/control/force-local", {"enabled": "on", "reason": "outage", "duration": "soon"}
    )
    assert response.status_code == 400
    assert MSG_NOT_A_DURATION.format(value="soon").replace("'", "&#x27;") in html(response)
    assert nothing_changed()


# -- force-local and its banner ---------------------------------------------------------------


def _pages() -> list[str]:
    """Every dashboard page that exists so far (others are being built alongside)."""
    pages = [CONTROL, CHANGES]
    for name in ("dashboard:overview", "dashboard:audit"):
        try:
            pages.append(reverse(name))
        except NoReverseMatch:
            continue
    return pages


def test_the_force_local_banner_shows_on_every_page_while_it_is_on(
    as_role: Any, world: Any
) -> None:
    admin = as_role("admin")
    viewer = as_role("viewer")
    for path in _pages():
        assert "Force-local mode is on" not in html(viewer.get(path)), path

    response = admin.post(
        "/control/force-local", {"enabled": "on", "reason": "provider outage"}, headers=HTMX
    )
    assert response.status_code == 200
    # The banner outside the panel is replaced out of band in the same answer.
    assert '<div id="force-local-banner" hx-swap-oob="true">' in html(response)
    assert "Force-local mode is on" in html(response)
    assert ControlState.objects.get().force_local
    assert ChangeLogEntry.objects.get().action == "force_local.on"

    for path in _pages():
        page = html(viewer.get(path))
        assert "Force-local mode is on" in page, path
        assert "provider outage" in page, path
    assert "Force-local mode is on" not in html(Client().get("/accounts/login/"))

    admin.post("/control/force-local", {"enabled": "off", "reason": "provider back"})
    for path in _pages():
        assert "Force-local mode is on" not in html(viewer.get(path)), path


def test_the_banner_says_until_when_force_local_is_on(as_role: Any, world: Any) -> None:
    force_local_set(
        enabled=True,
        reason="drill",
        duration=timedelta(hours=2),
        actor=None,
        source=ChangeSource.CLI,
    )
    page = html(as_role("operator").get(CHANGES))
    assert "Force-local mode is on" in page
    assert " UTC." in page.split("Force-local mode is on")[1].split("</div>")[0]


# -- CSRF -------------------------------------------------------------------------------------


def _csrf_client(user: Any) -> Client:
    return logged_in(user, enforce_csrf_checks=True)


@pytest.mark.parametrize(("path", "body", "needs"), WRITES)
def test_a_write_without_a_csrf_token_is_refused(
    admin_role_user: Any, world: Any, path: str, body: Any, needs: str
) -> None:
    response = _csrf_client(admin_role_user).post(path, body)
    assert response.status_code == 403
    assert nothing_changed()


def test_a_write_with_the_pages_csrf_token_goes_through(operator_user: Any, world: Any) -> None:
    client = _csrf_client(operator_user)
    page = html(client.get(CONTROL))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/control/strategy", SWITCH | {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert StrategyOverride.objects.count() == 1


def test_htmx_sends_the_csrf_token_from_the_body_header(operator_user: Any, world: Any) -> None:
    client = _csrf_client(operator_user)
    page = html(client.get(CONTROL))
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    response = client.post("/control/strategy", SWITCH, headers=HTMX | {"X-CSRFToken": token})
    assert response.status_code == 200
    assert StrategyOverride.objects.count() == 1


# -- the change log ---------------------------------------------------------------------------


def test_the_change_log_lists_who_changed_what_newest_first_with_a_diff(
    as_role: Any, world: Any, operator_user: Any
) -> None:
    kw = {"actor": operator_user, "source": ChangeSource.DASHBOARD}
    strategy_override_set(
        strategy=world["privacy_first"], duration=timedelta(hours=1), reason="first", **kw
    )
    strategy_override_set(
        strategy=world["balanced"], duration=timedelta(hours=2), reason="second", **kw
    )
    page = html(as_role("viewer").get(CHANGES))
    assert page.index("<td>second</td>") < page.index("<td>first</td>")
    newest = page[page.index("<tbody>") : page.index("<td>second</td>")]
    assert "<code>strategy_override.set</code>" in newest
    assert "Dashboard" in newest
    assert ">operator<" in newest
    # The replacement shows what changed: the old strategy struck out, the new one in.
    assert "<del>privacy_first</del> → <ins>balanced</ins>" in newest


def test_the_change_log_filters_by_target_type_actor_and_source(as_role: Any, world: Any) -> None:
    make_change_log_entry(target_type="provider", actor_label="alice", source=ChangeSource.CLI)
    make_change_log_entry(target_type="force_local", actor_label="bob", source=ChangeSource.API)
    make_change_log_entry(
        target_type="force_local", actor_label="alice", source=ChangeSource.DASHBOARD
    )
    client = as_role("viewer")

    def rows(query: str) -> int:
        return html(client.get(f"{CHANGES}?{query}", headers=HTMX)).count('<tr id="change-')

    assert rows("") == 3
    assert rows("target_type=force_local") == 2
    assert rows("actor=alice") == 2
    assert rows("source=api") == 1
    assert rows("target_type=force_local&actor=alice&source=dashboard") == 1
    assert rows("actor=nobody") == 0
    assert "match these filters" in html(client.get(f"{CHANGES}?actor=nobody"))


def test_the_older_link_pages_by_created_at_and_id_without_gaps_or_repeats(
    as_role: Any, world: Any
) -> None:
    at = timezone.now()
    # Same timestamps on purpose: the cursor must break ties by id.
    for n in range(control_views.CHANGES_PAGE_SIZE + 7):
        make_change_log_entry(created_at=at - timedelta(seconds=n // 3), target_key=f"p-{n}")
    client = as_role("viewer")
    seen: list[str] = []
    url: str | None = CHANGES
    pages = 0
    while url:
        body = html(client.get(url, headers=HTMX))
        seen += re.findall(r'<tr id="change-(\d+)"', body)
        found = re.search(r'href="([^"]+)"[^>]*rel="next"', body)
        url = found.group(1).replace("&amp;", "&") if found else None
        pages += 1
    assert pages == 2
    expected = list(
        ChangeLogEntry.objects.order_by("-created_at", "-id").values_list("id", flat=True)
    )
    assert [int(pk) for pk in seen] == expected


def test_a_malformed_cursor_is_reported_and_the_newest_entries_shown(
    as_role: Any, world: Any
) -> None:
    make_change_log_entry()
    response = as_role("viewer").get(f"{CHANGES}?before=yesterday")
    assert response.status_code == 200
    assert control_forms.MSG_BAD_CURSOR in html(response)
    assert html(response).count('<tr id="change-') == 1


def test_the_change_log_page_is_a_fixed_number_of_queries(
    as_role: Any, world: Any, django_assert_num_queries: Any
) -> None:
    for _ in range(5):
        make_change_log_entry()
    client = as_role("viewer")
    # session, user, the user's groups (role), distinct target types, one page of entries
    with django_assert_num_queries(5):
        client.get(CHANGES, headers=HTMX)


def test_the_diff_lists_only_what_changed() -> None:
    assert change_diff({"a": 1, "b": "x"}, {"a": 2, "b": "x"}) == [DiffLine("a", "1", "2")]
    assert change_diff(None, {"a": 1, "b": None}) == [DiffLine("a", None, "1")]
    assert change_diff({"a": "gone"}, None) == [DiffLine("a", "gone", None)]
    assert change_diff(None, None) == []
    assert change_diff(True, False) == [DiffLine("value", "true", "false")]
    long = change_diff(None, {"a": "x" * 200})[0].after
    assert long is not None
    assert len(long) == 80
    assert long.endswith("…")


def test_entries_written_by_each_override_service_show_on_the_change_log(
    as_role: Any, world: Any
) -> None:
    kw = {"actor": None, "source": ChangeSource.API, "reason": "set up"}
    agent_model_override_set(agent=world["agent"], model=world["cloud"], **kw)
    task_override_set(task_id="t-9", model=world["local"], **kw)
    page = html(as_role("viewer").get(f"{CHANGES}?source=api"))
    assert "agent_model_override.set" in page
    assert "task_override.set" in page
    assert "<ins>t-9</ins>" in page


def test_a_user_without_a_role_gets_a_page_that_says_what_to_do(db: None) -> None:
    from django.test import Client

    from tests.factories import make_user

    browser = Client()
    browser.force_login(make_user(role=None))

    response = browser.get("/control")

    assert response.status_code == 403
    assert b"has no role yet" in response.content
    assert b"Log out" in response.content
