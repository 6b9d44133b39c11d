"""An operator's session in a real browser: log in, switch the strategy for an hour with a
reason, watch the countdown, see the override on the overview, find the switch in the
change log, end it early; see an override run out (the panel refreshes itself at zero);
filter the audit log and open a decision; decide a request in the simulator and run a
what-if. Each page is saved as a screenshot in tests/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from routing.choices import ChangeSource, ModelType
from routing.engine import RouteRequest, decide
from routing.engine.replay import decision_inputs
from routing.models import ChangeLogEntry, Decision, Strategy, StrategyOverride
from routing.services.decisions import Outcome, decision_record
from routing.services.overrides import strategy_override_set
from routing.snapshot import current_snapshot, load_runtime_state
from tests.browser.conftest import browser_missing
from tests.factories import make_agent, make_decision, make_model, make_strategy, make_user

if (why := browser_missing()) is not None:
    pytest.skip(f"browser tests skipped: {why}", allow_module_level=True)

from playwright.sync_api import expect  # only once we know it is there

PASSWORD = "correct horse battery staple"
COUNTDOWN_1H = re.compile(r"^(59m\d{1,2}s|1h)$")

Shot = Callable[[Any, str], Path]


@pytest.fixture
def operator_login(transactional_db: None) -> dict[str, str]:
    """An operator, and a configuration to route with: two strategies, an agent, a model."""
    make_strategy(key="balanced")
    make_strategy(key="privacy_first", allow_cloud=False)
    make_agent(key="backend")
    make_model(key="local-a")
    make_user(role="operator", username="olga", password=PASSWORD)
    return {"username": "olga", "password": PASSWORD}


def nav(page: Any, name: str) -> Any:
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name)


def log_in(page: Any, login: dict[str, str], path: str, shot: Shot | None = None) -> None:
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    expect(page.get_by_role("heading", name="Log in to Switchboard")).to_be_visible()
    if shot:
        shot(page, "01-login")
    page.get_by_label("Username").fill(login["username"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + r"$"))
    expect(page.locator(".account")).to_contain_text(login["username"])
    expect(page.locator(".account .role")).to_have_text("operator")


def test_an_operator_switches_the_strategy_for_an_hour_and_ends_it_early(
    page: Any, operator_login: dict[str, str], screenshot: Shot
) -> None:
    log_in(page, operator_login, "/control", screenshot)
    active = page.get_by_test_id("active-strategy")
    expect(active).to_have_text("balanced")
    expect(page.locator("#force-local-form")).to_have_count(0)  # operators: not offered

    # Switch for one hour, with a reason; htmx swaps the panel (no page load).
    form = page.locator("#strategy-form")
    form.get_by_label("Strategy").select_option("privacy_first")
    form.get_by_label("1 hour").check()
    form.get_by_label("Reason").fill("Provider incident 42")
    with page.expect_response(lambda r: r.url.endswith("/control/strategy")) as posted:
        form.get_by_role("button", name="Switch").click()
    assert posted.value.status == 200
    assert posted.value.request.headers.get("hx-request") == "true"
    expect(active).to_have_text("privacy_first")
    expect(page.locator(".notice-success")).to_contain_text("privacy_first")

    # The countdown runs: about an hour, and it ticks by itself.
    countdown = page.locator("#strategy-overrides .countdown")
    expect(countdown).to_have_text(COUNTDOWN_1H)
    before = countdown.inner_text()
    expect(countdown).not_to_have_text(before)  # the script updates it every second
    expect(countdown).to_have_text(COUNTDOWN_1H)
    expect(page.locator("#strategy-overrides")).to_contain_text("Provider incident 42")
    screenshot(page, "02-control-switched")

    override = StrategyOverride.objects.get()
    assert (override.expires_at - override.starts_at).total_seconds() == 3600
    entry = ChangeLogEntry.objects.get()
    assert (entry.source, entry.actor_label) == (ChangeSource.DASHBOARD, "olga")

    # The overview says which strategy is in force, who set it, and counts down too.
    nav(page, "Overview").click()
    expect(page).to_have_url(re.compile(r"/$"))
    strip = page.locator("#strategy-strip")
    expect(strip.get_by_test_id("strip-strategy")).to_have_text("privacy_first")
    expect(strip.get_by_test_id("strip-source")).to_contain_text("override by olga")
    expect(strip.get_by_test_id("strip-source")).to_contain_text("then balanced")
    overview_countdown = strip.locator(".countdown")
    expect(overview_countdown).to_have_text(COUNTDOWN_1H)
    before = overview_countdown.inner_text()
    expect(overview_countdown).not_to_have_text(before)  # it ticks here as well
    screenshot(page, "02b-overview-strategy")

    # The change log shows who switched what, and why.
    nav(page, "Change log").click()
    expect(page).to_have_url(re.compile(r"/changes$"))
    row = page.locator("table.change-log tbody tr").first
    expect(row).to_contain_text("strategy_override.set")
    expect(row).to_contain_text("olga")
    expect(row).to_contain_text("Dashboard")
    expect(row).to_contain_text("Provider incident 42")
    expect(row.locator("dl.diff")).to_contain_text("privacy_first")
    screenshot(page, "03-change-log")

    # End it early from the control page.
    nav(page, "Routing control").click()
    expect(active).to_have_text("privacy_first")
    page.locator("#strategy-overrides").get_by_role("button", name="End now").click()
    expect(active).to_have_text("balanced")
    expect(page.locator("#strategy-section")).to_contain_text("No strategy override is in force.")
    screenshot(page, "04-control-ended")

    override.refresh_from_db()
    assert override.ended_at is not None
    assert ChangeLogEntry.objects.filter(
        action="strategy_override.end", source=ChangeSource.DASHBOARD
    ).exists()

    # Filtering the change log happens in place (htmx) and keeps the URL shareable.
    nav(page, "Change log").click()
    expect(page.locator("table.change-log tbody tr")).to_have_count(2)
    page.get_by_label("Source").select_option("dashboard")
    expect(page).to_have_url(re.compile(r"source=dashboard"))
    expect(page.locator("table.change-log tbody tr").first).to_contain_text("strategy_override.end")
    screenshot(page, "05-change-log-filtered")


def test_at_zero_the_countdown_refreshes_the_panel_without_reloading_the_page(
    page: Any, operator_login: dict[str, str]
) -> None:
    log_in(page, operator_login, "/control")
    strategy_override_set(
        strategy=Strategy.objects.get(key="privacy_first"),
        duration=timedelta(seconds=4),
        reason="a short drill",
        actor=None,
        source=ChangeSource.CLI,
    )
    page.reload()
    active = page.get_by_test_id("active-strategy")
    expect(active).to_have_text("privacy_first")
    page.evaluate("window.__samePage = true")
    # countdown.js fires at zero; htmx fetches the panel, which no longer has the override.
    expect(active).to_have_text("balanced", timeout=15_000)
    expect(page.locator("#strategy-overrides")).to_have_count(0)
    assert page.evaluate("window.__samePage") is True


def test_an_operator_filters_the_audit_log_and_opens_a_decision(
    page: Any, operator_login: dict[str, str], screenshot: Shot
) -> None:
    try:
        audit = reverse("dashboard:audit")
    except NoReverseMatch:
        pytest.skip("the audit-log page (URL name 'dashboard:audit') does not exist yet")
    wanted = make_decision(agent_key="backend", model_used="local-a", strategy="privacy_first")
    make_decision(agent_key="frontend", model_used="cloud-a", strategy="balanced")

    log_in(page, operator_login, audit)
    rows = page.locator("#audit-results tbody tr")
    expect(rows).to_have_count(2)
    page.locator("input[name=agent]").fill("backend")
    page.locator("input[name=agent]").press("Enter")
    expect(page).to_have_url(re.compile(r"agent=backend"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("backend")
    screenshot(page, "06-audit-filtered")

    rows.first.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(str(wanted.public_id)))
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(wanted.public_id))
    screenshot(page, "07-decision")


def store(prompt: str, **task: Any) -> Decision:
    """A request decided on the current configuration and answered by its primary,
    recorded with its inputs (as POST /api/route records it), for the what-if."""
    snapshot = current_snapshot()
    now = timezone.now()
    state = load_runtime_state(snapshot=snapshot, session_id=None, now=now)
    request = RouteRequest(text=prompt, agent="backend", **task)
    decision = decide(request, snapshot, state, now=now)
    assert decision.primary is not None
    model = decision.primary.model
    return decision_record(
        decision=decision,
        outcome=Outcome(
            "success",
            model_used=model,
            provider=snapshot.models[model].provider,
            attempts=[{"model": model, "outcome": "success", "reason": None}],
            prompt_tokens=1000,
            completion_tokens=500,
        ),
        prompt_text=prompt,
        inputs=decision_inputs(request, state, now),
        api_key=None,
        agent="backend",
        task_id=None,
        session_id=None,
    )


def test_an_operator_decides_a_request_and_runs_a_what_if_in_the_simulator(
    page: Any, operator_login: dict[str, str], screenshot: Shot
) -> None:
    make_model(key="cloud-a", type=ModelType.CLOUD, cost_input_per_1k=0.01, cost_output_per_1k=0.03)
    make_strategy(key="cloud_first", prefer_cloud=True)
    stored = [store("Say hello to the team"), store("Summarize the weekly report")]
    assert [row.chain[0] for row in stored] == ["local-a", "local-a"]

    log_in(page, operator_login, "/simulator")
    page.wait_for_load_state()  # htmx is ready once the page (plotly.js too) has loaded
    expect(nav(page, "Simulator")).to_have_attribute("aria-current", "page")

    # A prompt with an email address: decided local-only, the cloud model ruled out.
    form = page.locator("#decide-form")
    form.get_by_label("Agent").select_option("backend")
    form.get_by_label("Prompt").fill("Email jane@example.com the architecture review")
    with page.expect_response(lambda r: r.url.endswith("/simulator/decide")) as posted:
        form.get_by_role("button", name="Decide").click()
    assert posted.value.request.headers.get("hx-request") == "true"
    result = page.locator("#decision-result")
    expect(result.get_by_test_id("model-chosen")).to_have_text("local-a")
    expect(result.get_by_test_id("local-only")).to_have_text("yes")
    expect(result.get_by_test_id("pii-types")).to_have_text("email")
    expect(result.locator("#trace")).to_contain_text("cloud-a at privacy: local only: PII found")
    expect(result.locator("#explanation")).to_contain_text("nothing was called")
    screenshot(page, "08-simulator-decision")
    dry_run = Decision.objects.get(outcome="dry_run")
    assert dry_run.api_key_name == "dashboard:olga"

    # What if the last day's traffic had gone to the cloud? The two stored requests (1,000
    # prompt and 500 completion tokens each) would move to cloud-a, at 0.01 + 0.015 USD.
    what_if = page.locator("#what-if-form")
    what_if.get_by_label("Strategy").select_option("cloud_first")
    what_if.get_by_label("Last 24 hours").check()
    with page.expect_response(lambda r: r.url.endswith("/simulator/what-if")) as posted:
        what_if.get_by_role("button", name="Run what-if").click()
    assert posted.value.request.headers.get("hx-request") == "true"
    summary = page.get_by_test_id("what-if-summary")
    expect(summary).to_contain_text("2 requests re-decided under cloud_first")
    expect(page.get_by_test_id("what-if-moved")).to_contain_text(
        "2 of 2 requests would go to another model"
    )
    expect(page.get_by_test_id("what-if-cost")).to_contain_text("$0.000000")
    expect(page.get_by_test_id("what-if-cost")).to_contain_text("$0.050000")
    expect(page.get_by_test_id("what-if-cloud")).to_contain_text("100.0% (2)")
    # plotly.js (from our static files) drew the chart into its element.
    expect(page.locator("#what-if-figure .main-svg").first).to_be_visible()
    screenshot(page, "09-simulator-what-if")
