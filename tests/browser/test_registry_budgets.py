"""An admin's session in a real browser: raise a budget's limit in place and see its
spend share follow; on the registry's Rules tab, type a bad rule condition and see the
error with a caret under its position, fix it as the check confirms, and save the rule.
Each page is saved as a screenshot in tests/screenshots/.

These run in Debian's Chromium, which scripts/test installs (tests/browser/conftest.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from routing.choices import ChangeSource, RuleAction
from routing.models import Budget, ChangeLogEntry, RoutingRule
from tests.factories import (
    make_agent,
    make_budget,
    make_model,
    make_rule,
    make_spend_ledger,
    make_user,
)

PASSWORD = "correct horse battery staple"
BAD_CONDITION = "task.complexity > 7 and not data.contains_pi"  # a typo at column 29
GOOD_CONDITION = "task.complexity > 7 and not data.contains_pii"

Shot = Callable[[Any, str], Path]


@pytest.fixture
def admin_login(transactional_db: None) -> dict[str, Any]:
    """An admin; a global daily budget of $10 with $2.50 spent today; an agent, a model
    and a global rule."""
    make_agent(key="backend")
    make_model(key="local-a")
    make_rule(name="complex_to_cloud", position=1, condition="task.complexity > 8")
    budget = make_budget(limit_usd=Decimal("10"), warning_threshold=0.8)
    make_spend_ledger(cost_usd=Decimal("2.5"))
    make_user(role="admin", username="ada", password=PASSWORD)
    return {"username": "ada", "password": PASSWORD, "budget": budget}


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def log_in(page: Any, login: dict[str, Any], path: str) -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Username").fill(login["username"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + r"$"))
    expect(page.locator(".account .role")).to_have_text("admin")


def test_an_admin_raises_a_budget_then_writes_a_rule_whose_condition_is_checked_as_typed(
    page: Any, admin_login: dict[str, Any], screenshot: Shot
) -> None:
    # -- Budgets: the spend beside the limit, then the limit raised in place ----------------
    log_in(page, admin_login, "/budgets")
    pk = admin_login["budget"].pk
    row = page.locator(f"#budget-{pk}")
    expect(row).to_contain_text("$10.00")
    expect(row).to_contain_text("$2.5000")
    expect(row).to_contain_text("25.0%")
    screenshot(page, "10-budgets")

    row.get_by_role("link", name="Edit").click()
    expect(row).to_have_class(re.compile(r"\bediting\b"))  # the same row, now a form
    row.get_by_label("Limit (USD)").fill("20")
    row.get_by_label("Warn at (share of the limit)").fill("0.5")
    row.get_by_label("Reason").fill("quarter-end traffic")
    screenshot(page, "11-budget-editing")
    with page.expect_response(lambda r: r.url.endswith(f"/budgets/{pk}/save")) as saved:
        row.get_by_role("button", name="Save").click()
    assert saved.value.status == 200
    assert saved.value.request.headers.get("hx-request") == "true"
    expect(row).not_to_have_class(re.compile(r"\bediting\b"))
    expect(row).to_contain_text("$20.00")
    expect(row).to_contain_text("12.5%")
    expect(row).to_contain_text("50%")
    screenshot(page, "12-budget-saved")

    budget = Budget.objects.get(pk=pk)
    assert (budget.limit_usd, budget.warning_threshold) == (Decimal("20"), 0.5)
    entry = ChangeLogEntry.objects.get(action="budget.update")
    assert (entry.source, entry.actor_label, entry.reason) == (
        ChangeSource.DASHBOARD,
        "ada",
        "quarter-end traffic",
    )

    # -- Registry: the Rules tab, in place -------------------------------------------------
    nav(page, "Registry").click()
    expect(page).to_have_url(re.compile(r"/registry$"))
    page.get_by_role("navigation", name="Registry lists").get_by_role("link", name="Rules").click()
    expect(page).to_have_url(re.compile(r"/registry\?tab=rules$"))
    expect(page.locator("#registry-table")).to_contain_text("complex_to_cloud")
    screenshot(page, "13-registry-rules")

    # A bad condition, typed: the check answers with the error and a caret under it.
    form = page.locator("#rule-create-form")
    form.get_by_label("Scope").select_option("global")
    form.get_by_label("Name").fill("complex_clean_to_cloud")
    form.get_by_label("Position").fill("2")
    form.get_by_label("Action").select_option(RuleAction.SWITCH_TO_FALLBACK)
    condition = form.get_by_label("Condition")
    condition.press_sequentially(BAD_CONDITION)
    verdict = form.get_by_test_id("condition-verdict")
    expect(verdict).to_contain_text("Line 1, column 29:")
    expect(verdict).to_contain_text("did you mean 'data.contains_pii'?")
    caret = form.get_by_test_id("condition-caret")
    expect(caret).to_have_text(f"{BAD_CONDITION}\n{' ' * 28}^")
    screenshot(page, "14-rule-condition-error")

    # Fixed by typing the missing letter: the same check now says it is valid, and
    # which fields it reads.
    condition.press("End")
    condition.press_sequentially("i")
    expect(condition).to_have_value(GOOD_CONDITION)
    expect(verdict).to_contain_text("Valid.")
    expect(verdict).to_contain_text("task.complexity")
    expect(verdict).to_contain_text("data.contains_pii")
    expect(caret).to_have_count(0)
    form.get_by_label("Reason").fill("complex tasks without PII may leave")
    screenshot(page, "15-rule-condition-valid")
    form.get_by_role("button", name="Add rule").click()
    expect(page.locator(".notice-success")).to_contain_text("complex_clean_to_cloud")
    expect(page.locator("#registry-table")).to_contain_text(GOOD_CONDITION)
    screenshot(page, "16-rule-saved")

    rule = RoutingRule.objects.get(name="complex_clean_to_cloud")
    assert rule.condition == GOOD_CONDITION
    assert ChangeLogEntry.objects.filter(
        action="routingrule.create", source=ChangeSource.DASHBOARD, target_key=str(rule.pk)
    ).exists()
