"""The Budgets page (/budgets) through Django's test client.

Admins only: anonymous visitors go to the login page, everyone else (no role, viewer,
operator) gets 403 on the page, its fragments and every write, and nothing changes.
The page and its htmx partial (with `Vary: HX-Request`), rows edited in place, create
and delete, each write leaving a change-log entry (source "dashboard", the reason typed)
and a new configuration revision, validation errors next to their fields, the spend
beside each limit as the status selector computes it, and CSRF on every write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from routing.choices import BudgetPeriod, BudgetScope, ChangeSource, LedgerScope
from routing.dashboard import budgets_forms, budgets_views
from routing.models import Budget, ChangeLogEntry
from routing.selectors import status
from routing.selectors.budget_rows import budget_rows
from routing.services import config_revision_current
from tests.dashboard_pages import client_for_role, html, logged_in, vary
from tests.factories import (
    make_agent,
    make_budget,
    make_model,
    make_provider,
    make_spend_ledger,
)

pytestmark = pytest.mark.django_db

PAGE = "/budgets"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def world() -> dict[str, Any]:
    """A global daily budget of $10 with $2.50 spent today, an agent's monthly budget,
    and an agent, a provider and a model to aim new budgets at."""
    agent = make_agent(key="backend")
    provider = make_provider(name="groq")
    model = make_model(key="groq-llama", provider=provider)
    glob = make_budget(limit_usd=Decimal("10"), warning_threshold=0.8)
    monthly = make_budget(
        agent=agent, period=BudgetPeriod.MONTH, limit_usd=Decimal("100"), warning_threshold=0.5
    )
    make_spend_ledger(cost_usd=Decimal("2.5"))
    return {
        "agent": agent,
        "provider": provider,
        "model": model,
        "global": glob,
        "monthly": monthly,
    }


@pytest.fixture
def as_role(request: pytest.FixtureRequest) -> Callable[[str], Client]:
    return client_for_role(request)


def body(**changes: Any) -> dict[str, Any]:
    """A valid form body for a new global monthly budget, with `changes`."""
    data = {
        "target": "global",
        "period": "month",
        "limit_usd": "300",
        "per_request_limit_usd": "",
        "warning_threshold": "0.8",
        "enabled": "on",
        "reason": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def escaped(text: str) -> str:
    return text.replace("'", "&#x27;")


def reads(world: Any) -> list[str]:
    pk = world["global"].pk
    return [PAGE, f"/budgets/{pk}", f"/budgets/{pk}/edit"]


def writes(world: Any) -> list[tuple[str, dict[str, Any]]]:
    pk = world["global"].pk
    return [
        ("/budgets/new", body()),
        (f"/budgets/{pk}/save", body(target="global", period="day", limit_usd="20")),
        (f"/budgets/{pk}/delete", {"reason": "gone"}),
    ]


def unchanged(world: Any, version: int) -> bool:
    stored = Budget.objects.get(pk=world["global"].pk)
    return (
        Budget.objects.count() == 2
        and stored.limit_usd == Decimal("10")
        and not ChangeLogEntry.objects.exists()
        and config_revision_current() == version
    )


# -- access ------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page_and_change_nothing(world: Any) -> None:
    version = config_revision_current()
    for path in reads(world):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={path}"
    for path, data in writes(world):
        response = Client().post(path, data)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert unchanged(world, version)


@pytest.mark.parametrize("who", ["none", "viewer", "operator"])
def test_everyone_but_admins_gets_403_on_every_page_fragment_and_write(
    as_role: Any, world: Any, who: str
) -> None:
    client = as_role(who)
    version = config_revision_current()
    for path in reads(world):
        assert client.get(path).status_code == 403, path
        assert client.get(path, headers=HTMX).status_code == 403, path
    for path, data in writes(world):
        assert client.post(path, data).status_code == 403, path
        assert client.post(path, data, headers=HTMX).status_code == 403, path
    assert unchanged(world, version)
    page = html(client.get(PAGE))
    assert "You cannot do that here" in page  # the 403 page, not a bare status


@pytest.mark.parametrize("who", ["viewer", "operator", "admin"])
def test_only_admins_find_budgets_in_the_navigation(as_role: Any, world: Any, who: str) -> None:
    page = html(as_role(who).get("/registry"))
    assert ('href="/budgets"' in page) is (who == "admin")


@pytest.mark.parametrize("who", ["admin", "superuser"])
def test_admins_get_the_page(as_role: Any, world: Any, who: str) -> None:
    response = as_role(who).get(PAGE)
    assert response.status_code == 200
    assert 'id="budgets-table"' in html(response)
    assert 'id="budget-create-form"' in html(response)


def test_pages_take_only_their_methods(as_role: Any, world: Any) -> None:
    client = as_role("admin")
    pk = world["global"].pk
    assert client.post(PAGE).status_code == 405
    assert client.get("/budgets/new").status_code == 405
    assert client.get(f"/budgets/{pk}/save").status_code == 405
    assert client.get(f"/budgets/{pk}/delete").status_code == 405
    assert client.post(f"/budgets/{pk}/edit").status_code == 405


def test_an_unknown_budget_is_a_404(as_role: Any, world: Any) -> None:
    client = as_role("admin")
    assert client.get("/budgets/999999/edit", headers=HTMX).status_code == 404
    assert client.post("/budgets/999999/save", body()).status_code == 404
    assert client.post("/budgets/999999/delete").status_code == 404


# -- full page and htmx partial ----------------------------------------------------------------


def test_the_page_is_whole_and_its_htmx_partial_is_only_the_panel(as_role: Any, world: Any) -> None:
    client = as_role("admin")
    full = client.get(PAGE)
    assert html(full).startswith("<!doctype html>")
    assert 'hx-headers=\'{"X-CSRFToken": "' in html(full)
    assert "hx-request" in vary(full)

    partial = client.get(PAGE, headers=HTMX)
    assert partial.status_code == 200
    assert html(partial).lstrip().startswith('<div id="budgets-panel"')
    assert "<html" not in html(partial)
    assert "topbar" not in html(partial)
    assert "hx-request" in vary(partial)


def test_an_htmx_history_restore_gets_the_whole_page(as_role: Any, world: Any) -> None:
    response = as_role("admin").get(PAGE, headers=HTMX | {"HX-History-Restore-Request": "true"})
    assert html(response).startswith("<!doctype html>")
    assert "hx-request" in vary(response)


# -- what each row shows -----------------------------------------------------------------------


def row_html(page: str, budget: Budget) -> str:
    match = re.search(rf'<tr id="budget-{budget.pk}".*?</tr>', page, re.S)
    assert match, f"no row for budget {budget.pk}"
    return match.group(0)


def test_each_limit_has_the_current_spend_and_share_beside_it_as_status_reports(
    as_role: Any, world: Any
) -> None:
    page = html(as_role("admin").get(PAGE))
    glob = row_html(page, world["global"])
    assert "$10.00" in glob
    assert "$2.5000" in glob
    assert "today" in glob
    assert "25.0%" in glob
    assert 'style="width: 25.0%"' in glob
    assert "80%" in glob  # warns at
    assert "normal" in glob

    monthly = row_html(page, world["monthly"])
    assert "agent <code>backend</code>" in monthly
    assert "this month" in monthly
    assert "50%" in monthly

    reported = {
        (b["scope"], b["target"], b["period"]): b for b in status(timezone.now())["budgets"]
    }
    assert reported[("global", "", "day")]["spent_usd"] == 2.5
    assert reported[("global", "", "day")]["share"] == 0.25


def test_a_budget_past_its_warning_threshold_shows_its_warning_level(
    as_role: Any, world: Any
) -> None:
    make_spend_ledger(
        scope=LedgerScope.AGENT,
        key="backend",
        period=BudgetPeriod.MONTH,
        period_start=timezone.now().date().replace(day=1),
        cost_usd=Decimal("60"),
    )
    monthly = row_html(html(as_role("admin").get(PAGE)), world["monthly"])
    assert "60.0%" in monthly
    assert "level-warning" in monthly


def test_a_disabled_budget_still_shows_its_spend_but_says_it_is_not_applied(
    as_role: Any, world: Any
) -> None:
    Budget.objects.filter(pk=world["global"].pk).update(enabled=False)
    glob = row_html(html(as_role("admin").get(PAGE)), world["global"])
    assert "$2.5000" in glob
    assert ">disabled<" in glob


def test_the_spend_beside_every_budget_takes_a_fixed_number_of_queries(
    world: Any, django_assert_num_queries: Any
) -> None:
    now = timezone.now()
    budget_rows(now)  # warms the configuration snapshot, as a running server has it
    with django_assert_num_queries(2):
        # the budgets, joined to their targets; today's and this month's ledger buckets
        rows = budget_rows(now)
    assert [row.spent_usd for row in rows] == [0.0, 2.5]  # agent (monthly), then global

    for _ in range(3):
        make_budget(agent=make_agent(), enabled=False)
    budget_rows(now)
    with django_assert_num_queries(3):
        # the same two, and the ledger once more for the disabled budgets (not in the
        # snapshot the status selector reads), however many there are
        assert len(budget_rows(now)) == 5


def test_the_page_says_so_when_there_are_no_budgets(as_role: Any) -> None:
    page = html(as_role("admin").get(PAGE))
    assert "No budgets yet." in page
    assert 'id="budget-create-form"' in page


# -- editing a row in place --------------------------------------------------------------------


def test_edit_swaps_the_row_for_its_form_with_the_stored_values(as_role: Any, world: Any) -> None:
    pk = world["monthly"].pk
    response = as_role("admin").get(f"/budgets/{pk}/edit", headers=HTMX)
    assert response.status_code == 200
    assert "hx-request" in vary(response)
    row = html(response)
    assert row.lstrip().startswith(f'<tr id="budget-{pk}" class="editing"')
    assert f'hx-post="/budgets/{pk}/save"' in row
    assert '<option value="agent:backend" selected>' in row
    assert 'name="limit_usd" value="100"' in row
    assert 'name="warning_threshold" value="0.5"' in row
    assert 'name="reason"' in row
    assert f'hx-get="/budgets/{pk}"' in row  # Cancel


def test_cancel_gets_the_row_back_and_without_htmx_the_page(as_role: Any, world: Any) -> None:
    client = as_role("admin")
    pk = world["global"].pk
    row = client.get(f"/budgets/{pk}", headers=HTMX)
    assert html(row).lstrip().startswith(f'<tr id="budget-{pk}"')
    assert "hx-request" in vary(row)
    plain = client.get(f"/budgets/{pk}")
    assert plain.status_code == 302
    assert plain["Location"] == PAGE


def test_without_htmx_edit_opens_the_row_on_the_whole_page(as_role: Any, world: Any) -> None:
    pk = world["global"].pk
    page = html(as_role("admin").get(f"/budgets/{pk}/edit"))
    assert page.startswith("<!doctype html>")
    assert f'<tr id="budget-{pk}" class="editing"' in page
    assert f'<tr id="budget-{world["monthly"].pk}" class="budget-row' in page


def test_saving_a_row_changes_the_budget_logs_it_and_bumps_the_revision(
    as_role: Any, world: Any, admin_role_user: Any
) -> None:
    pk = world["global"].pk
    version = config_revision_current()
    response = as_role("admin").post(
        f"/budgets/{pk}/save",
        body(
            target="global",
            period="day",
            limit_usd="20",
            per_request_limit_usd="0.25",
            warning_threshold="0.5",
            reason="quarter-end traffic",
        ),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "hx-request" in vary(response)
    row = html(response)
    assert row.lstrip().startswith(f'<tr id="budget-{pk}"')
    assert "saved" in row.split(">")[0]
    assert "$20.00" in row
    assert "$0.2500" in row
    assert "12.5%" in row  # $2.50 of the new $20
    assert "50%" in row

    budget = Budget.objects.get(pk=pk)
    assert (budget.limit_usd, budget.per_request_limit_usd) == (Decimal("20"), Decimal("0.25"))
    assert budget.warning_threshold == 0.5
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_key) == (
        "budget.update",
        "budget",
        "global:*:day",
    )
    assert (entry.source, entry.actor, entry.reason) == (
        ChangeSource.DASHBOARD,
        admin_role_user,
        "quarter-end traffic",
    )
    assert Decimal(entry.before["limit_usd"]) == Decimal("10")
    assert Decimal(entry.after["limit_usd"]) == Decimal("20")
    assert entry.before["warning_threshold"] == 0.8
    assert entry.after["warning_threshold"] == 0.5
    assert config_revision_current() == version + 1


def test_saving_without_htmx_redirects_to_the_page_with_a_message(as_role: Any, world: Any) -> None:
    client = as_role("admin")
    pk = world["global"].pk
    response = client.post(f"/budgets/{pk}/save", body(target="global", period="day"))
    assert response.status_code == 302
    assert response["Location"] == PAGE
    message = budgets_views.MSG_UPDATED.format(target="Everything (global)", period="day")
    assert message in html(client.get(PAGE))


def test_moving_a_budget_to_another_target_changes_its_scope(as_role: Any, world: Any) -> None:
    pk = world["global"].pk
    as_role("admin").post(
        f"/budgets/{pk}/save", body(target="provider:groq", period="day", limit_usd="5")
    )
    budget = Budget.objects.get(pk=pk)
    assert (budget.scope, budget.provider, budget.agent, budget.model) == (
        BudgetScope.PROVIDER,
        world["provider"],
        None,
        None,
    )
    assert ChangeLogEntry.objects.get().target_key == "provider:groq:day"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"warning_threshold": "1.5"}, "warning_threshold", budgets_forms.MSG_THRESHOLD),
        ({"warning_threshold": "0"}, "warning_threshold", budgets_forms.MSG_THRESHOLD),
        ({"limit_usd": "", "per_request_limit_usd": ""}, "limit_usd", budgets_forms.MSG_NO_LIMIT),
        ({"limit_usd": "-1"}, "limit_usd", "Ensure this value is greater than or equal to 0."),
        ({"limit_usd": "lots"}, "limit_usd", "Enter a number."),
        (
            {"target": "agent:backend", "period": "month"},
            "target",
            budgets_forms.MSG_DUPLICATE.format(target="Agent backend", period="month"),
        ),
        ({"target": "agent:ghost"}, "target", "Select a valid choice."),
    ],
)
def test_a_bad_row_comes_back_with_the_error_next_to_its_field_and_nothing_changes(
    as_role: Any, world: Any, changes: dict[str, str], field: str, message: str
) -> None:
    client = as_role("admin")
    pk = world["global"].pk
    version = config_revision_current()
    data = body(target="global", period="day", limit_usd="20") | changes

    response = client.post(f"/budgets/{pk}/save", data, headers=HTMX)
    assert response.status_code == 200  # htmx swaps only 2xx answers
    row = html(response)
    assert row.lstrip().startswith(f'<tr id="budget-{pk}" class="editing"')
    field_html = re.search(rf'<div class="field field-{field} has-error">.*?</div>', row, re.S)
    assert field_html, row
    assert escaped(message) in field_html.group(0)

    plain = client.post(f"/budgets/{pk}/save", data)
    assert plain.status_code == 400
    assert html(plain).startswith("<!doctype html>")
    assert escaped(message) in html(plain)
    assert unchanged(world, version)


# -- creating and deleting ---------------------------------------------------------------------


def test_adding_a_budget_answers_with_the_panel_and_logs_the_creation(
    as_role: Any, world: Any
) -> None:
    version = config_revision_current()
    response = as_role("admin").post(
        "/budgets/new",
        body(target="model:groq-llama", period="day", limit_usd="3", reason="pilot"),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert html(response).lstrip().startswith('<div id="budgets-panel"')
    created = Budget.objects.get(scope=BudgetScope.MODEL)
    assert created.model == world["model"]
    assert created.limit_usd == Decimal("3")
    assert f'<tr id="budget-{created.pk}"' in html(response)
    message = budgets_views.MSG_CREATED.format(target="model groq-llama", period="day")
    assert escaped(message) in html(response)

    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key, entry.reason) == (
        "budget.create",
        "model:groq-llama:day",
        "pilot",
    )
    assert entry.before is None
    assert Decimal(entry.after["limit_usd"]) == Decimal("3")
    assert config_revision_current() == version + 1


def test_a_cap_alone_is_a_budget(as_role: Any, world: Any) -> None:
    response = as_role("admin").post(
        "/budgets/new",
        body(target="agent:backend", period="day", limit_usd="", per_request_limit_usd="0.05"),
    )
    assert response.status_code == 302
    created = Budget.objects.get(agent=world["agent"], period=BudgetPeriod.DAY)
    assert created.limit_usd is None
    assert created.per_request_limit_usd == Decimal("0.05")


def test_a_bad_new_budget_comes_back_in_the_form_and_nothing_is_created(
    as_role: Any, world: Any
) -> None:
    version = config_revision_current()
    response = as_role("admin").post(
        "/budgets/new", body(target="global", period="day"), headers=HTMX
    )
    assert response.status_code == 200
    message = budgets_forms.MSG_DUPLICATE.format(target="Everything (global)", period="day")
    assert escaped(message) in html(response)
    assert 'id="budget-create-form"' in html(response)
    assert unchanged(world, version)


def test_deleting_a_budget_keeps_the_reason_from_the_htmx_prompt(as_role: Any, world: Any) -> None:
    pk = world["monthly"].pk
    version = config_revision_current()
    response = as_role("admin").post(
        f"/budgets/{pk}/delete", headers=HTMX | {"HX-Prompt": "agent retired"}
    )
    assert response.status_code == 200
    assert f'id="budget-{pk}"' not in html(response)
    assert not Budget.objects.filter(pk=pk).exists()
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key, entry.reason) == (
        "budget.delete",
        "agent:backend:month",
        "agent retired",
    )
    assert entry.after is None
    assert Decimal(entry.before["limit_usd"]) == Decimal("100")
    assert config_revision_current() == version + 1


def test_deleting_without_htmx_takes_the_reason_from_the_form(as_role: Any, world: Any) -> None:
    pk = world["global"].pk
    response = as_role("admin").post(f"/budgets/{pk}/delete", {"reason": "no global cap"})
    assert response.status_code == 302
    assert ChangeLogEntry.objects.get().reason == "no global cap"


def test_a_deleted_budget_no_longer_limits_routing_in_this_process(
    as_role: Any, world: Any
) -> None:
    as_role("admin").post(f"/budgets/{world['global'].pk}/delete", headers=HTMX)
    reported = status(timezone.now())["budgets"]
    assert [(b["scope"], b["period"]) for b in reported] == [("agent", "month")]


# -- CSRF --------------------------------------------------------------------------------------


def test_a_write_without_a_csrf_token_is_refused(admin_role_user: Any, world: Any) -> None:
    client = logged_in(admin_role_user, enforce_csrf_checks=True)
    version = config_revision_current()
    for path, data in writes(world):
        assert client.post(path, data).status_code == 403, path
        assert client.post(path, data, headers=HTMX).status_code == 403, path
    assert unchanged(world, version)


def test_htmx_writes_carry_the_token_from_the_body_header(admin_role_user: Any, world: Any) -> None:
    client = logged_in(admin_role_user, enforce_csrf_checks=True)
    page = html(client.get(PAGE))
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    response = client.post("/budgets/new", body(), headers=HTMX | {"X-CSRFToken": token})
    assert response.status_code == 200
    assert Budget.objects.count() == 3


def test_a_plain_form_post_carries_the_token_from_the_form(
    admin_role_user: Any, world: Any
) -> None:
    client = logged_in(admin_role_user, enforce_csrf_checks=True)
    page = html(client.get(PAGE))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/budgets/new", body(csrfmiddlewaretoken=token))
    assert response.status_code == 302
    assert Budget.objects.count() == 3
