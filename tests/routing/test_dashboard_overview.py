"""The overview page (/): access, the full page and its htmx partial, the series it is
drawn from, the empty state, where plotly comes from, and pinned query counts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from routing.choices import ChangeSource, DecisionOutcome, ModelType
from routing.dashboard.overview_views import TEMPLATE
from routing.selectors import overview as selectors
from routing.services.overrides import (
    agent_model_override_set,
    strategy_override_set,
    task_override_set,
)
from routing.snapshot import clear_snapshot_cache, current_snapshot
from tests.factories import (
    make_agent,
    make_budget,
    make_decision,
    make_environment,
    make_model,
    make_spend_ledger,
    make_strategy,
    make_user,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
EMPTY_STATE = "No decisions yet: send one with POST /api/route or scripts/run's demo key."


def page_client(user: Any = None) -> Client:
    # Not the `client` fixture: in tests/routing that is an httpx client on a live server.
    web = Client()
    if user is not None:
        web.force_login(user)
    return web


def window(days: int = 7) -> selectors.OverviewWindow:
    return selectors.overview_window(days, NOW)


def days_ago(n: int, hour: int = 12) -> datetime:
    return (NOW - timedelta(days=n)).replace(hour=hour, minute=0)


def attempt(model: str, outcome: str = "success", reason: str | None = None, **kw: Any) -> dict:
    return {"model": model, "outcome": outcome, "reason": reason, "latency_ms": 100, **kw}


def figure(response: Any, data_id: str) -> dict[str, Any]:
    match = re.search(
        rf'<script id="{re.escape(data_id)}" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.DOTALL,
    )
    assert match, f"no json_script #{data_id}"
    return json.loads(match.group(1))


# -- access ------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page(settings: Any) -> None:
    # The "login" route is added with the login page; a path keeps this test independent.
    settings.LOGIN_URL = "/login/"

    response = page_client().get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_a_user_without_a_role_is_forbidden() -> None:
    response = page_client(make_user(role=None)).get("/")

    assert response.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_may_read_the_overview(role: str) -> None:
    response = page_client(make_user(role=role)).get("/")

    assert response.status_code == 200


def test_the_overview_only_answers_get(viewer_user: Any) -> None:
    response = page_client(viewer_user).post("/")

    assert response.status_code == 405


# -- full page and partial -----------------------------------------------------------------


def test_the_full_page_extends_the_base_and_polls_its_charts_region(viewer_user: Any) -> None:
    make_decision()

    response = page_client(viewer_user).get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert [t.name for t in response.templates][:2] == [TEMPLATE, "_base.html"]
    assert html.lstrip().startswith("<!doctype html>")
    assert 'hx-get="/?days=7"' in html
    assert 'hx-trigger="every 30s"' in html
    assert "HX-Request" in response["Vary"]


def test_htmx_gets_the_charts_partial_alone(viewer_user: Any) -> None:
    make_decision()

    response = page_client(viewer_user).get("/", HTTP_HX_REQUEST="true")

    html = response.content.decode().strip()
    assert response.status_code == 200
    assert html.startswith('<section id="overview-charts"')
    assert "<html" not in html
    assert "plotly.min.js" not in html  # the page loaded it once
    assert 'id="chart-spend-data"' in html
    assert "HX-Request" in response["Vary"]


def test_an_htmx_history_restore_gets_the_full_page(viewer_user: Any) -> None:
    response = page_client(viewer_user).get(
        "/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    assert response.content.decode().lstrip().startswith("<!doctype html>")
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize(("query", "days"), [("", 7), ("?days=30", 30), ("?days=9", 7)])
def test_the_window_switch_picks_7_or_30_days(viewer_user: Any, query: str, days: int) -> None:
    web = page_client(viewer_user)

    page = web.get(f"/{query}")
    response = web.get(f"/{query}", HTTP_HX_REQUEST="true")

    # The test client sees the context of whole templates only, not of a partial.
    assert page.context["overview"]["days"] == days
    assert len(page.context["overview"]["spend_by_agent"]["days"]) == days
    html = response.content.decode()
    assert f'hx-get="/?days={days}"\n             hx-trigger="every 30s"' in html
    assert re.search(rf'href="/\?days={days}"[^>]*aria-current="page"', html, re.DOTALL)


def test_the_empty_state_says_how_to_send_a_first_request(viewer_user: Any) -> None:
    response = page_client(viewer_user).get("/")

    html = response.content.decode()
    assert EMPTY_STATE in html
    assert 'id="chart-spend"' not in html
    # Budgets do not depend on decisions: that panel says what to do about its own state.
    assert "No budgets with a limit yet" in html
    assert '<span data-testid="pii-to-cloud">0</span>' in html


def test_the_empty_state_goes_once_a_decision_exists(viewer_user: Any) -> None:
    make_decision(agent_key="backend")

    html = page_client(viewer_user).get("/").content.decode()

    assert EMPTY_STATE not in html
    assert 'id="chart-spend"' in html


def test_plotly_comes_only_from_our_static_files(viewer_user: Any) -> None:
    make_decision()

    html = page_client(viewer_user).get("/").content.decode()

    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert "/static/vendor/plotly/plotly.min.js" in sources
    assert "/static/js/charts.js" in sources
    assert all(src.startswith("/static/") for src in sources), sources
    assert "cdn" not in html.lower()
    # Every mention of plotly is our copy, loaded once.
    assert set(re.findall(r'[^"\s]*plotly[^"\s]*', html)) == {"/static/vendor/plotly/plotly.min.js"}
    assert html.count("plotly.min.js") == 1


# -- the series ------------------------------------------------------------------------------


def test_the_window_is_whole_utc_days_ending_today() -> None:
    w = window(7)

    assert w.start == datetime(2025, 3, 4, tzinfo=UTC)
    assert w.end == NOW
    assert [d.isoformat() for d in (w.dates[0], w.dates[-1])] == ["2025-03-04", "2025-03-10"]
    with pytest.raises(ValueError, match="window must be one of"):
        selectors.overview_window(9, NOW)


def test_spend_per_agent_per_day_adds_the_answer_and_the_fallback_tax() -> None:
    make_decision(agent_key="backend", created_at=days_ago(0), cost_usd=Decimal("0.5"))
    make_decision(
        agent_key="backend",
        created_at=days_ago(0, hour=1),
        cost_usd=Decimal("0.25"),
        fallback_tax_usd=Decimal("0.05"),
    )
    make_decision(agent_key="frontend", created_at=days_ago(2), cost_usd=Decimal("0.1"))
    make_decision(agent_key="", created_at=days_ago(1), cost_usd=Decimal("0.2"))
    make_decision(agent_key="local", created_at=days_ago(1), cost_usd=Decimal("0"))
    make_decision(agent_key="backend", created_at=days_ago(7), cost_usd=Decimal("9"))  # too old

    series = selectors.spend_by_agent_series(window())

    assert series["days"][-1] == "2025-03-10"
    spend = {a["agent"]: a["usd"] for a in series["agents"]}
    assert spend == {
        "backend": [0, 0, 0, 0, 0, 0, 0.8],
        "(no agent)": [0, 0, 0, 0, 0, 0.2, 0],
        "frontend": [0, 0, 0, 0, 0.1, 0, 0],
    }
    assert [a["agent"] for a in series["agents"]] == ["backend", "(no agent)", "frontend"]
    assert series["total_usd"] == pytest.approx(1.1)


def test_budgets_show_spend_today_with_the_burn_rate_projection() -> None:
    make_budget(limit_usd=Decimal("10"))
    make_budget(limit_usd=None, per_request_limit_usd=Decimal("1"), period="month")
    make_spend_ledger(period_start=NOW.date(), cost_usd=Decimal("3"))

    (row,) = selectors.budget_spend_series(NOW)

    assert row["label"] == "global / day"
    assert (row["spent_usd"], row["limit_usd"]) == (3.0, 10.0)
    # $3 by 15:00 is $0.20 an hour: $4.80 by midnight.
    assert row["burn_rate"]["projected_day_usd"] == pytest.approx(4.8)


@pytest.mark.parametrize(
    ("reason", "bucket"),
    [
        ("timeout: no answer within 30.0s", "timeout"),
        ("first_token_timeout: no first token within 5s", "timeout"),
        ("http_5xx: upstream answered 503 (circuit open for 30s)", "http 5xx"),
        ("rate limited (429); cooling down until 2025-03-10T15:00:30+00:00", "rate limited (429)"),
        ("connect: connection refused", "connect"),
        ("refusal ('I cannot')", "refusal"),
        ("empty answer", "empty answer"),
        ("invalid JSON: no JSON object found", "invalid JSON / schema"),
        ("schema violation at name: 'name' is a required property", "invalid JSON / schema"),
        ("answer cut off (finish_reason length) while a schema was asked for", "cut off"),
        ("cooling down until 2025-03-10T15:01:00+00:00", "circuit open / cooling down"),
        ("stream failed after the first token: timeout: read timed out", "timeout"),
        ("privacy: only local models may see this request", "other"),
        ("http_4xx: 400 bad request", "other"),
        (None, "other"),
    ],
)
def test_rejection_reasons_fall_into_buckets(reason: str | None, bucket: str) -> None:
    assert selectors.reason_bucket(reason) == bucket


def test_the_fallback_rate_per_model_is_split_by_reason() -> None:
    make_decision(
        created_at=days_ago(0),
        attempts=[
            attempt("local-a", "rejected", "timeout: no answer within 30s"),
            attempt("cloud-b"),
        ],
    )
    make_decision(
        created_at=days_ago(1),
        attempts=[
            attempt("local-a", "rejected", "empty answer", billed=True),
            attempt("cloud-b", "invalid", "invalid JSON: no JSON object found"),
            attempt("cloud-c"),
        ],
    )
    make_decision(created_at=days_ago(1), attempts=[attempt("local-a")])
    make_decision(created_at=days_ago(9), attempts=[attempt("cloud-c", "rejected", "connect: x")])

    series = selectors.fallback_by_reason_series(window())

    assert series["models"] == ["local-a", "cloud-b", "cloud-c"]
    assert series["attempts"] == [3, 2, 1]
    assert series["rejected"]["timeout"] == [1, 0, 0]
    assert series["rejected"]["empty answer"] == [1, 0, 0]
    assert series["rejected"]["invalid JSON / schema"] == [0, 1, 0]
    assert series["rejected"]["connect"] == [0, 0, 0]  # outside the window
    assert series["rates"]["timeout"] == [0.3333, 0, 0]
    assert series["rates"]["invalid JSON / schema"] == [0, 0.5, 0]
    assert series["total_rejected"] == 3
    assert (series["scanned"], series["capped"]) == (3, False)


def test_the_attempt_scan_stops_at_its_cap_and_says_so() -> None:
    for n in range(3):
        make_decision(created_at=days_ago(n), attempts=[attempt("m", "rejected", "empty answer")])

    series = selectors.fallback_by_reason_series(window(), cap=2)

    assert (series["scanned"], series["capped"]) == (2, True)
    assert series["attempts"] == [2]


def test_pii_answered_by_a_local_model_does_not_count_as_reaching_the_cloud() -> None:
    local = make_model(type=ModelType.LOCAL)
    make_model(type=ModelType.CLOUD, key="gpt-cloud")
    make_decision(
        created_at=days_ago(0), pii_types=["email"], local_only=True, model_used=local.key
    )
    make_decision(created_at=days_ago(0), model_used="gpt-cloud")  # cloud, but no PII

    series = selectors.privacy_series(window())

    assert series["pii_to_cloud_total"] == 0
    assert series["pii_to_cloud"] == [0] * 7


def test_pii_answered_by_a_cloud_model_is_counted() -> None:
    make_model(type=ModelType.CLOUD, key="gpt-cloud")
    make_decision(created_at=days_ago(1), pii_types=["iban"], model_used="gpt-cloud")

    series = selectors.privacy_series(window())

    assert series["pii_to_cloud_total"] == 1
    assert series["pii_to_cloud"] == [0, 0, 0, 0, 0, 1, 0]


def test_privacy_activations_are_counted_per_day_and_pii_type() -> None:
    local = make_model(type=ModelType.LOCAL)
    make_decision(
        created_at=days_ago(0),
        pii_types=["email", "phone"],
        local_only=True,
        model_used=local.key,
    )
    make_decision(created_at=days_ago(0), pii_types=["email"], local_only=True, model_used="")
    make_decision(
        created_at=days_ago(1),
        pii_types=["iban"],
        local_only=True,
        outcome=DecisionOutcome.REFUSED,
        model_used="",
    )
    # Refused for a reason that is not privacy: not a privacy activation.
    make_decision(created_at=days_ago(1), outcome=DecisionOutcome.REFUSED, model_used="")

    series = selectors.privacy_series(window())

    types = {item["type"]: item["counts"][-2:] for item in series["pii_types"]}
    assert types == {"email": [0, 2], "iban": [1, 0], "phone": [0, 1]}
    assert series["with_pii"][-2:] == [1, 2]
    assert series["forced_local"][-2:] == [1, 2]
    assert series["refused"][-2:] == [1, 0]
    assert series["pii_to_cloud_total"] == 0


def test_the_page_reads_1_when_pii_reached_a_cloud_model(viewer_user: Any) -> None:
    make_model(type=ModelType.CLOUD, key="gpt-cloud")
    make_decision(pii_types=["email"], model_used="gpt-cloud")

    response = page_client(viewer_user).get("/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert '<span data-testid="pii-to-cloud">1</span>' in html
    assert 'class="headline danger"' in html
    assert figure(response, "chart-pii-to-cloud-data")["data"][0]["value"] == 1


def test_decisions_are_counted_per_strategy_and_outcome() -> None:
    make_decision(created_at=days_ago(0), strategy="balanced")
    make_decision(created_at=days_ago(1), strategy="balanced", outcome=DecisionOutcome.FAILED)
    make_decision(created_at=days_ago(1), strategy="privacy_first")
    make_decision(created_at=days_ago(2), strategy="", outcome=DecisionOutcome.REFUSED)

    series = selectors.decisions_by_strategy_series(window())

    assert series["strategies"] == ["balanced", "(none)", "privacy_first"]
    assert series["outcomes"] == {"success": [1, 0, 1], "failed": [1, 0, 0], "refused": [0, 1, 0]}
    assert series["total"] == 4


def test_latency_percentiles_per_model_leave_out_cache_hits_and_failures() -> None:
    for latency in (100, 200, 300, 400, 500):
        make_decision(created_at=days_ago(0), model_used="a", latency_ms=latency)
    make_decision(created_at=days_ago(0), model_used="a", latency_ms=1, cached=True)
    make_decision(
        created_at=days_ago(0),
        model_used="",
        latency_ms=90_000,
        outcome=DecisionOutcome.FAILED,
    )
    make_decision(created_at=days_ago(1), model_used="b", latency_ms=50)

    series = selectors.latency_by_model_series(window())

    # percentile_cont on PostgreSQL and the Python fallback on SQLite agree.
    assert series["models"] == ["a", "b"]
    assert series["count"] == [5, 1]
    assert series["p50_ms"] == [300.0, 50.0]
    assert series["p95_ms"] == [480.0, 50.0]


def test_the_fallback_tax_is_summed_per_day() -> None:
    make_decision(created_at=days_ago(0), fallback_tax_usd=Decimal("0.02"))
    make_decision(created_at=days_ago(0, hour=2), fallback_tax_usd=Decimal("0.01"))
    make_decision(created_at=days_ago(3), fallback_tax_usd=Decimal("0.5"))

    series = selectors.fallback_tax_series(window())

    assert series["usd"] == [0, 0, 0, 0.5, 0, 0, 0.03]
    assert series["total_usd"] == pytest.approx(0.53)


def test_the_page_embeds_the_series_as_figures(viewer_user: Any) -> None:
    make_decision(agent_key="backend", cost_usd=Decimal("0.5"))
    make_decision(agent_key="frontend", cost_usd=Decimal("0.25"))

    response = page_client(viewer_user).get("/")

    spend = figure(response, "chart-spend-data")
    assert spend["layout"]["barmode"] == "stack"
    assert {t["name"]: t["y"][-1] for t in spend["data"]} == {"backend": 0.5, "frontend": 0.25}


# -- query counts ----------------------------------------------------------------------------


def test_the_partial_costs_a_fixed_number_of_queries(
    viewer_user: Any, django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_budget()
    cloud = make_model(type=ModelType.CLOUD)
    for n in range(5):
        make_decision(
            agent_key=f"agent-{n}",
            strategy=f"strategy-{n % 2}",
            model_used=cloud.key,
            pii_types=["email"] if n == 0 else [],
            attempts=[attempt("x", "rejected", "empty answer"), attempt(cloud.key)],
        )
    web = page_client(viewer_user)
    # The configuration snapshot is cached per process and re-checked once a second:
    # warm it, and keep the re-check out of the count however slow the machine is.
    current_snapshot()
    monkeypatch.setattr("routing.snapshot.CONFIG_VERSION_TTL", 3600.0)

    with django_assert_num_queries(12):
        # 1. the session; 2. the user; 3. the user's groups (the viewer role check);
        # 4. today's spend-ledger buckets (the page's one runtime-state read, shared by
        #    the budgets and the model health panel's cooldowns);
        # 5. decisions per strategy and outcome; 6. spend per agent per day;
        # 7. the attempts scan (fallback buckets); 8. the privacy daily counts, with the
        #    cloud-model subquery inlined; 9. the PII-types scan; 10. latency per model;
        # 11. the fallback tax per day;
        # 12. the model health panel's ModelHealth rows (selectors.model_health).
        response = web.get("/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200


def test_pii_answered_by_a_model_no_longer_in_the_registry_counts_as_reaching_the_cloud(
    db: None,
) -> None:
    from django.utils import timezone

    from routing.selectors.overview import overview_window, privacy_series
    from tests.factories import make_decision

    make_decision(pii_types=["email"], model_used="deleted-cloud-model", created_at=timezone.now())

    series = privacy_series(overview_window(7, timezone.now()))

    assert series["pii_to_cloud_total"] == 1


# -- the strategy in force --------------------------------------------------------------------


def strip(response: Any) -> str:
    """The strategy strip, whitespace folded, as a person reads it."""
    match = re.search(
        r'<div class="strategy-strip[^"]*" id="strategy-strip".*?</div>',
        response.content.decode(),
        re.DOTALL,
    )
    assert match, "no strategy strip"
    return " ".join(match.group(0).split())


def strip_text(response: Any) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", strip(response)).split())


@pytest.fixture
def strategies() -> dict[str, Any]:
    return {
        "balanced": make_strategy(key="balanced"),
        "privacy_first": make_strategy(key="privacy_first", allow_cloud=False),
    }


def test_the_strip_names_the_default_strategy_and_links_to_routing_control(
    viewer_user: Any, strategies: dict[str, Any]
) -> None:
    response = page_client(viewer_user).get("/")

    text = strip_text(response)
    assert "Strategy in force: balanced from the default" in text
    assert "0 agent overrides, 0 task overrides" in text
    assert 'href="/control"' in strip(response)
    assert "data-expires" not in strip(response)  # nothing to count down


def test_the_strip_names_an_active_environment_as_the_source(
    viewer_user: Any, strategies: dict[str, Any]
) -> None:
    make_environment(name="staging", active=True, default_strategy=strategies["privacy_first"])

    text = strip_text(page_client(viewer_user).get("/"))

    assert "Strategy in force: privacy_first from the environment staging" in text


def test_the_htmx_partial_shows_an_override_by_whom_until_when_with_a_countdown(
    viewer_user: Any, operator_user: Any, strategies: dict[str, Any]
) -> None:
    with time_machine.travel(NOW, tick=False):
        strategy_override_set(
            strategy=strategies["privacy_first"],
            duration=timedelta(hours=1),
            reason="incident 42",
            actor=operator_user,
            source=ChangeSource.DASHBOARD,
        )
        response = page_client(viewer_user).get("/", HTTP_HX_REQUEST="true")

    html = strip(response)
    text = strip_text(response)
    assert "Strategy in force: privacy_first override by operator" in text
    assert "until 2025-03-10 16:00 UTC ( 1h left), then balanced" in text
    expires = (NOW + timedelta(hours=1)).isoformat()
    assert f'data-expires="{expires}"' in html
    assert f'data-now="{NOW.isoformat()}"' in html
    # At zero, countdown.js fires this, and htmx fetches the charts region afresh.
    assert 'hx-trigger="countdown-ended" hx-target="#overview-charts"' in html
    assert "HX-Request" in response["Vary"]


def test_the_page_loads_the_countdown_script_from_our_static_files(viewer_user: Any) -> None:
    html = page_client(viewer_user).get("/").content.decode()

    assert re.search(r'<script src="/static/js/countdown\.js" defer></script>', html)


def test_the_strip_counts_agent_and_task_overrides(
    viewer_user: Any, operator_user: Any, strategies: dict[str, Any]
) -> None:
    backend, model = make_agent(key="backend"), make_model(key="local-a")
    common = {"reason": "review", "actor": operator_user, "source": ChangeSource.DASHBOARD}
    strategy_override_set(
        strategy=strategies["privacy_first"], agent=backend, duration=timedelta(hours=2), **common
    )
    agent_model_override_set(agent=make_agent(key="frontend"), model=model, **common)
    task_override_set(task_id="t-1", model=model, duration=timedelta(minutes=15), **common)

    text = strip_text(page_client(viewer_user).get("/"))

    # An agent's own strategy leaves the strategy for everyone else as it was.
    assert "Strategy in force: balanced from the default" in text
    assert "2 agent overrides, 1 task override" in text


def test_an_override_in_force_costs_one_query_more_for_its_author(
    viewer_user: Any, operator_user: Any, strategies: dict[str, Any], monkeypatch: Any
) -> None:
    web = page_client(viewer_user)
    monkeypatch.setattr("routing.snapshot.CONFIG_VERSION_TTL", 3600.0)
    current_snapshot()
    with CaptureQueriesContext(connection) as plain:
        web.get("/", HTTP_HX_REQUEST="true")
    strategy_override_set(
        strategy=strategies["privacy_first"],
        duration=timedelta(hours=1),
        reason="incident 42",
        actor=operator_user,
        source=ChangeSource.DASHBOARD,
    )
    # The service drops the cached snapshot when its transaction commits, which a test's
    # transaction never does: drop it here, and warm the one with the override.
    clear_snapshot_cache()
    current_snapshot()

    with CaptureQueriesContext(connection) as overridden:
        web.get("/", HTTP_HX_REQUEST="true")

    assert len(overridden) == len(plain) + 1
    assert not any("author_label" in q["sql"] for q in plain.captured_queries)
    assert any("author_label" in q["sql"] for q in overridden.captured_queries)
