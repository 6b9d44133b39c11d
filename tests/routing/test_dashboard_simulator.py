"""The Simulator page (/simulator): a dry-run decision with its full trace, and the
what-if panel over stored traffic, through Django's test client.

Each role (anonymous, no role, viewer, operator, admin); each answer twice (the whole
page, and the htmx panel with `Vary: HX-Request`); CSRF on both forms; a PII prompt
decided local-only with the cloud models ruled out; no model called and nothing spent;
bad input shown with the API's own messages; and the what-if totals equal to
`POST /api/simulate`'s for the same inputs.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from routing.api.analysis_serializers import MSG_UNTIL_BEFORE_SINCE
from routing.choices import BudgetScope, DecisionOutcome, ModelType
from routing.config_io import import_config
from routing.dashboard.simulator_forms import (
    FORM_DATETIME,
    MSG_SCHEMA_NOT_JSON,
    MSG_SINCE_NEEDED,
    DecideForm,
)
from routing.engine import RouteRequest, decide
from routing.engine.replay import decision_inputs
from routing.engine.run import BUDGET_EXCEEDED, UNKNOWN_AGENT
from routing.models import Decision, LLMModel, SpendLedger
from routing.services import config_revision_bump
from routing.services.decisions import Outcome, decision_record
from routing.services.simulate import MSG_UNKNOWN_STRATEGY
from routing.simulator_charts import NO_MODEL, primary_counts, what_if_figure, what_if_totals
from routing.snapshot import current_snapshot, load_runtime_state
from tests.dashboard_pages import html, vary
from tests.factories import make_budget, make_user
from tests.fake_upstream import FakeUpstream
from tests.upstream_registry import add_model

pytestmark = pytest.mark.django_db

CONFIG = Path(__file__).resolve().parents[2] / "config"
PAGE = "/simulator"
DECIDE = "/simulator/decide"
WHAT_IF = "/simulator/what-if"
HTMX = {"HTTP_HX_REQUEST": "true"}
PII_PROMPT = "Email jane@example.com the architecture review"
ROUTINE_PROMPT = "Say hello to the team"
CLOUD_MODELS = (
    "claude-3-opus",
    "claude-sonnet",
    "gpt-4-turbo",
    "gpt-4o",
    "groq-llama-3.1-70b",
)
DECIDE_PII = {"agent": "backend_agent", "prompt": PII_PROMPT}
WHAT_IF_7D = {"strategy": "performance_optimized", "range": "7d"}


@pytest.fixture
def example() -> None:
    """The example configuration (config/): its local models are simulated."""
    import_config(CONFIG)


def web(user: Any = None, **kwargs: Any) -> Client:
    # Not the `client` fixture: in tests/routing that is an httpx client on a live server.
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def eliminated(response: Any) -> dict[str, str]:
    """model -> "step: reason", from the trace's list of eliminated models."""
    found = re.findall(r"<li>([^<]+?) at ([a-z_]+): ([^<]+)</li>", html(response))
    return {model: f"{step}: {reason}" for model, step, reason in found}


def store(prompt: str, *, agent: str, tokens: tuple[int, int] = (1000, 500)) -> Decision:
    """A request routed on the current configuration and answered by its primary, recorded
    with its inputs as POST /api/route records it (so it can be re-decided)."""
    snapshot = current_snapshot()
    now = timezone.now()
    state = load_runtime_state(snapshot=snapshot, session_id=None, now=now)
    request = RouteRequest(text=prompt, agent=agent)
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
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
        ),
        prompt_text=prompt,
        inputs=decision_inputs(request, state, now),
        api_key=None,
        agent=agent,
        task_id=None,
        session_id=None,
    )


# -- who may do what --------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page() -> None:
    response = web().get(PAGE)

    assert response.status_code == 302
    assert response["Location"].endswith(f"?next={PAGE}")


@pytest.mark.parametrize(("path", "body"), [(DECIDE, DECIDE_PII), (WHAT_IF, WHAT_IF_7D)])
def test_an_anonymous_post_runs_nothing(example: None, path: str, body: dict[str, str]) -> None:
    response = web().post(path, body)

    assert response.status_code == 302
    assert not Decision.objects.exists()


@pytest.mark.parametrize(("method", "path"), [("get", PAGE), ("post", DECIDE), ("post", WHAT_IF)])
def test_a_user_without_a_role_gets_403(example: None, method: str, path: str) -> None:
    response = getattr(web(make_user(role=None)), method)(path, DECIDE_PII)

    assert response.status_code == 403
    assert not Decision.objects.exists()


def test_a_viewer_sees_the_page_without_any_form_and_is_told_why(
    example: None, viewer_user: Any
) -> None:
    response = web(viewer_user).get(PAGE)

    page = html(response)
    assert response.status_code == 200
    assert "Running the simulator needs the operator role" in page
    assert 'id="decide-form"' not in page
    assert 'id="what-if-form"' not in page
    assert 'aria-current="page">Simulator</a>' in page  # the nav links here, and marks it


@pytest.mark.parametrize(("path", "body"), [(DECIDE, DECIDE_PII), (WHAT_IF, WHAT_IF_7D)])
def test_a_viewers_run_is_refused_and_records_nothing(
    example: None, viewer_user: Any, path: str, body: dict[str, str]
) -> None:
    response = web(viewer_user).post(path, body, **HTMX)

    assert response.status_code == 403
    assert not Decision.objects.exists()


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_operators_and_admins_get_both_forms_and_may_run_them(example: None, role: str) -> None:
    client = web(make_user(role=role))

    page = html(client.get(PAGE))
    decided = client.post(DECIDE, DECIDE_PII, **HTMX)
    what_if = client.post(WHAT_IF, WHAT_IF_7D, **HTMX)

    assert 'id="decide-form"' in page
    assert 'id="what-if-form"' in page
    assert decided.status_code == what_if.status_code == 200
    assert 'data-testid="model-chosen"' in html(decided)
    assert 'id="what-if-totals"' in html(what_if)


@pytest.mark.parametrize(("method", "path"), [("post", PAGE), ("get", DECIDE), ("get", WHAT_IF)])
def test_each_url_takes_only_its_method(
    example: None, operator_user: Any, method: str, path: str
) -> None:
    response = getattr(web(operator_user), method)(path)

    assert response.status_code == 405


# -- the whole page and the htmx panel ------------------------------------------------------


def test_the_page_offers_the_agents_task_types_and_strategies_of_the_configuration(
    example: None, operator_user: Any
) -> None:
    page = html(web(operator_user).get(PAGE))

    assert '<option value="backend_agent">backend_agent</option>' in page
    assert '<option value="code_review">' in page  # the task-type suggestions
    assert '<option value="performance_optimized">performance_optimized</option>' in page
    assert 'name="csrfmiddlewaretoken"' in page
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert "/static/vendor/plotly/plotly.min.js" in scripts
    assert all(src.startswith("/static/") for src in scripts)  # never a CDN


@pytest.mark.parametrize(
    ("path", "body", "panel"),
    [(DECIDE, DECIDE_PII, "decide-panel"), (WHAT_IF, WHAT_IF_7D, "what-if-panel")],
)
def test_htmx_gets_only_the_panel_and_a_plain_post_the_whole_page(
    example: None, operator_user: Any, path: str, body: dict[str, str], panel: str
) -> None:
    client = web(operator_user)

    partial = client.post(path, body, **HTMX)
    whole = client.post(path, body)
    restored = client.post(path, body, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)

    assert html(partial).strip().startswith(f'<section class="card" id="{panel}"')
    assert "<html" not in html(partial)
    assert html(whole).lstrip().startswith("<!doctype html>")
    assert 'id="decide-form"' in html(whole)  # both panels, one with the answer
    assert 'id="what-if-form"' in html(whole)
    assert html(restored).lstrip().startswith("<!doctype html>")
    for response in (partial, whole, restored):
        assert response.status_code == 200
        assert "hx-request" in vary(response)


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [(DECIDE, DECIDE_PII), (WHAT_IF, WHAT_IF_7D)])
def test_a_run_without_a_csrf_token_is_refused(
    example: None, operator_user: Any, path: str, body: dict[str, str]
) -> None:
    response = web(operator_user, enforce_csrf_checks=True).post(path, body, **HTMX)

    assert response.status_code == 403
    assert not Decision.objects.exists()


def test_the_forms_token_and_the_htmx_header_token_both_go_through(
    example: None, operator_user: Any
) -> None:
    client = web(operator_user, enforce_csrf_checks=True)
    page = html(client.get(PAGE))
    field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    header = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)

    plain = client.post(DECIDE, DECIDE_PII | {"csrfmiddlewaretoken": field})
    htmx = client.post(WHAT_IF, WHAT_IF_7D, HTTP_X_CSRFTOKEN=header, **HTMX)

    assert plain.status_code == 200
    assert htmx.status_code == 200
    assert Decision.objects.count() == 1  # the dry run; a what-if writes nothing


# -- a decision -------------------------------------------------------------------------------


def test_a_pii_prompt_is_decided_local_only_with_the_cloud_models_ruled_out_for_privacy(
    example: None, operator_user: Any
) -> None:
    response = web(operator_user).post(DECIDE, DECIDE_PII, **HTMX)

    page = html(response)
    assert response.status_code == 200
    assert re.search(r'data-testid="local-only">yes<', page)
    assert re.search(r'data-testid="pii-types"><span class="badge pii">email</span>', page)
    assert re.search(r'data-testid="model-chosen"><strong>deepseek-coder-33b</strong>', page)
    assert "deepseek-coder-33b → llama-3-70b" in page
    out = eliminated(response)
    for model in CLOUD_MODELS:
        assert out[model] == "privacy: local only: PII found (email)"
    # The trace and the explanation are the audit page's, step by step.
    assert '<section class="panel" id="trace">' in page
    assert '<section class="panel" id="explanation">' in page
    assert "Privacy: only local models may serve (PII found (email))." in page
    assert "Dry run: deepseek-coder-33b would have been tried first; nothing was called." in page


def test_a_decision_leaves_one_dry_run_audit_row_named_after_the_dashboard_user(
    example: None, operator_user: Any
) -> None:
    response = web(operator_user).post(DECIDE, DECIDE_PII, **HTMX)

    row = Decision.objects.get()
    assert row.outcome == DecisionOutcome.DRY_RUN
    assert row.api_key_name == f"dashboard:{operator_user.get_username()}"
    assert row.api_key is None
    assert row.agent_key == "backend_agent"
    assert row.local_only is True
    assert row.chain == ["deepseek-coder-33b", "llama-3-70b"]
    assert "jane@example.com" not in row.prompt_excerpt  # masked, as for the API
    assert f'href="/audit/{row.public_id}"' in html(response)


def test_the_task_fields_session_and_schema_reach_the_decision(
    example: None, operator_user: Any
) -> None:
    body = {
        "prompt": ROUTINE_PROMPT,
        "task_id": "t-42",
        "task_type": "summarization",
        "complexity": "3",
        "classification": "creative",
        "privacy_level": "high",
        "session_id": "s-1",
        "max_tokens": "200",
        "schema_on": "on",
        "response_schema": '{"type": "object", "required": ["answer"]}',
    }

    response = web(operator_user).post(DECIDE, body, **HTMX)

    assert response.status_code == 200, html(response)
    row = Decision.objects.get()
    request = row.trace["inputs"]["request"]
    assert (row.task_id, row.session_id, row.task_type) == ("t-42", "s-1", "summarization")
    assert request["complexity"] == 3
    assert request["classification"] == "creative"
    assert request["privacy_level"] == "high"
    assert request["max_tokens"] == 200
    assert request["has_response_schema"] is True
    assert row.local_only is True  # privacy level high keeps it local


def test_a_decision_calls_no_model_and_spends_nothing(
    registry: dict[str, Any], upstream: FakeUpstream, operator_user: Any
) -> None:
    add_model(registry, "local-a", "local", "llama3")
    add_model(registry, "cloud-a", "cloud", "gpt-4o")

    response = web(operator_user).post(
        DECIDE, {"prompt": "Design a distributed billing architecture", "complexity": "9"}, **HTMX
    )

    assert response.status_code == 200
    assert re.search(
        r'data-testid="model-chosen"><strong>(local-a|cloud-a)</strong>', html(response)
    )
    assert upstream.requests == []
    assert not SpendLedger.objects.exists()
    assert Decision.objects.get().cost_usd == 0


# -- bad input ------------------------------------------------------------------------------


def test_an_unknown_agent_shows_the_apis_message_and_its_recorded_refusal(
    example: None, operator_user: Any
) -> None:
    client = web(operator_user)

    partial = client.post(DECIDE, {"agent": "nope", "prompt": "hi"}, **HTMX)
    whole = client.post(DECIDE, {"agent": "nope", "prompt": "hi"})

    message = escape(UNKNOWN_AGENT.format(agent="nope"))
    for response in (partial, whole):
        assert response.status_code == 200  # the page worked: it shows the API's answer
        assert f"the API would answer 404 <strong>unknown_agent</strong>: {message}" in html(
            response
        )
    rows = Decision.objects.filter(outcome=DecisionOutcome.REFUSED, error_code="unknown_agent")
    assert rows.count() == 2
    assert f'href="/audit/{rows.first().public_id}"' in html(whole)


def test_no_eligible_model_shows_why_with_the_trace(example: None, operator_user: Any) -> None:
    LLMModel.objects.filter(type=ModelType.LOCAL).update(enabled=False)
    config_revision_bump()  # as any registry change does

    response = web(operator_user).post(DECIDE, DECIDE_PII, **HTMX)

    page = html(response)
    assert "422 <strong>no_eligible_model</strong>: no model can serve this request" in page
    assert "only local models may serve" in page
    assert '<section class="panel" id="trace">' in page
    assert eliminated(response)["gpt-4o"] == "privacy: local only: PII found (email)"


def test_an_exhausted_budget_shows_the_apis_message(
    registry: dict[str, Any], upstream: FakeUpstream, operator_user: Any
) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o")
    make_budget(scope=BudgetScope.GLOBAL, limit_usd=Decimal("1"))
    SpendLedger.objects.create(
        scope="global", key="", period="day", period_start=date.today(), cost_usd=2
    )

    whole = web(operator_user).post(DECIDE, {"prompt": "hello"})

    message = BUDGET_EXCEEDED.format(scope="global", period="day", limit=1, spent=2)
    assert whole.status_code == 200
    assert f"429 <strong>budget_exceeded</strong>: {escape(message)}" in html(whole)
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"prompt": ""}, "prompt", "This field is required."),
        ({"prompt": "x", "complexity": "11"}, "complexity", "Select a valid choice."),
        (
            {"prompt": "x", "schema_on": "on", "response_schema": "{nope"},
            "response_schema",
            MSG_SCHEMA_NOT_JSON.split(":")[0],
        ),
        (
            {"prompt": "x", "schema_on": "on", "response_schema": '{"type": 12}'},
            "response_schema",
            "Not a valid JSON Schema",
        ),
        ({"prompt": "x", "max_tokens": "0"}, "max_tokens", "greater than or equal to 1"),
    ],
)
def test_bad_input_is_shown_next_to_its_field_and_decides_nothing(
    example: None, operator_user: Any, body: dict[str, str], field: str, message: str
) -> None:
    client = web(operator_user)

    partial = client.post(DECIDE, body, **HTMX)
    whole = client.post(DECIDE, body)

    assert partial.status_code == 200
    assert whole.status_code == 400
    form = whole.context["decide_form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert message.replace('"', "&quot;") in html(partial)
    assert not Decision.objects.exists()


@pytest.mark.parametrize(("complexity", "sent"), [("simple", "simple"), ("7", 7)])
def test_the_form_sends_the_route_api_the_body_a_service_would(
    complexity: str, sent: int | str
) -> None:
    form = DecideForm(
        {"prompt": "x", "agent": "backend_agent", "complexity": complexity, "task_id": ""},
        agents=["backend_agent"],
    )

    assert form.is_valid(), form.errors
    body = form.cleaned_data["body"]
    assert body["messages"] == [{"role": "user", "content": "x"}]
    assert body["agent"] == "backend_agent"
    assert body["task"] == {"complexity": sent}  # empty fields are left out, not sent empty
    assert body["dry_run"] is True
    assert "response_schema" not in body  # only when the toggle is on
    assert "session_id" not in body


# -- what-if ------------------------------------------------------------------------------------


def test_the_what_if_totals_equal_the_apis_for_the_same_inputs(
    example: None, operator_user: Any
) -> None:
    for tokens in [(1000, 500), (2000, 1000), (300, 200)]:
        store(ROUTINE_PROMPT, agent="qa_agent", tokens=tokens)
    store(PII_PROMPT, agent="backend_agent")
    now = timezone.now().replace(microsecond=0)
    since, until = now - timedelta(hours=1), now + timedelta(hours=1)

    api = APIClient()
    api.force_login(operator_user)
    expected = api.post(
        "/api/simulate",
        {
            "strategy": "performance_optimized",
            "since": since.isoformat(),
            "until": until.isoformat(),
            "limit": 50,
        },
        format="json",
    ).json()
    form = {
        "strategy": "performance_optimized",
        "range": "custom",
        "since": since.strftime(FORM_DATETIME),
        "until": until.strftime(FORM_DATETIME),
        "limit": "50",
    }
    client = web(operator_user)
    whole = client.post(WHAT_IF, form)
    partial = html(client.post(WHAT_IF, form, **HTMX))

    assert whole.status_code == 200
    assert whole.context["what_if"] == expected
    assert expected["requests"]["moved"] == 3
    cost = expected["cost"]
    assert (cost["before_usd"], cost["after_usd"]) == (0, 0.084)
    row = re.search(r'data-testid="what-if-cost">(.*?)</tr>', partial).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row) == ["$0.000000", "$0.084000", "+0.084000"]
    pii = re.search(r'data-testid="what-if-pii">(.*?)</tr>', partial).group(1)
    before, after = (
        expected["privacy"]["pii_on_cloud"]["before"],
        expected["privacy"]["pii_on_cloud"]["after"],
    )
    assert re.findall(r"<td>([^<]*)</td>", pii) == [str(before), str(after)]
    assert "3 of 4 requests would go to another model" in partial
    assert "llama-3-70b → gpt-4-turbo: 3" in partial
    # 3 of the 4 requests go to a cloud model afterwards, none before.
    cloud = re.search(r'data-testid="what-if-cloud">(.*?)</tr>', partial).group(1)
    assert re.findall(r"<td>([^<]*)</td>", cloud)[:2] == ["0.0% (0)", "75.0% (3)"]
    assert 'data-figure="what-if-figure-data"' in partial
    assert '<script id="what-if-figure-data" type="application/json">' in partial


def test_the_presets_pick_the_last_24_hours_or_7_days(example: None, operator_user: Any) -> None:
    store(ROUTINE_PROMPT, agent="qa_agent")
    old = store(ROUTINE_PROMPT, agent="qa_agent")
    Decision.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    client = web(operator_user)

    day = client.post(WHAT_IF, {"strategy": "balanced", "range": "24h"})
    week = client.post(WHAT_IF, {"strategy": "balanced", "range": "7d"})

    assert day.context["what_if"]["requests"]["considered"] == 1
    assert week.context["what_if"]["requests"]["considered"] == 2
    assert week.context["until"] - week.context["since"] == timedelta(days=7)


def test_a_what_if_writes_nothing(example: None, operator_user: Any) -> None:
    store(ROUTINE_PROMPT, agent="qa_agent")

    web(operator_user).post(WHAT_IF, WHAT_IF_7D, **HTMX)

    assert Decision.objects.count() == 1
    assert not SpendLedger.objects.exists()


def test_an_empty_range_says_what_to_do(example: None, operator_user: Any) -> None:
    response = web(operator_user).post(WHAT_IF, WHAT_IF_7D, **HTMX)

    assert "No stored request in this range to re-decide" in html(response)
    assert "what-if-figure-data" not in html(response)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"strategy": "nope", "range": "24h"},
            "strategy",
            MSG_UNKNOWN_STRATEGY.format(key="nope"),
        ),
        ({"strategy": "balanced", "range": "custom"}, "since", MSG_SINCE_NEEDED),
        (
            {
                "strategy": "balanced",
                "range": "custom",
                "since": "2025-03-02T00:00:00",
                "until": "2025-03-01T00:00:00",
            },
            "until",
            MSG_UNTIL_BEFORE_SINCE,
        ),
        (
            {"strategy": "balanced", "range": "custom", "since": "yesterday"},
            "since",
            "Enter a valid date/time.",
        ),
        ({"strategy": "balanced", "range": "24h", "limit": "0"}, "limit", "greater than or"),
    ],
)
def test_a_bad_what_if_is_shown_next_to_its_field(
    example: None, operator_user: Any, body: dict[str, str], field: str, message: str
) -> None:
    client = web(operator_user)

    whole = client.post(WHAT_IF, body)
    partial = client.post(WHAT_IF, body, **HTMX)

    assert whole.status_code == 400
    assert partial.status_code == 200
    errors = whole.context["what_if_form"].errors[field]
    assert any(message in error for error in errors), errors
    assert 'id="what-if-totals"' not in html(partial)


# -- the figures, without a browser -----------------------------------------------------------


def _result(by_model: dict[str, int], moves: list[tuple[str | None, str | None, int]], n: int):
    return {
        "requests": {"considered": n, "re_decided": n, "skipped": 0, "moved": 0, "unchanged": n},
        "truncated": False,
        "limit": 100,
        "moves": [{"from": a, "to": b, "count": c} for a, b, c in moves],
        "fallbacks": {
            "expected": 0.0,
            "by_model": {m: {"requests": c} for m, c in by_model.items()},
        },
        "cost": {"before_usd": 0, "after_usd": 0, "delta_usd": 0, "unpriced": {}},
        "privacy": {"pii_requests": 0, "pii_on_cloud": {}, "local_only": {}},
        "refusals": {"before": 0, "after": 0},
    }


def test_the_counts_before_are_recovered_from_the_moves() -> None:
    # Before: local 5, cloud 3, 1 refused. Moves: 3 local -> cloud, 1 refused -> local,
    # 1 cloud -> refused, 1 local -> refused. After: local 2, cloud 5, 2 refused.
    result = _result(
        {"local": 2, "cloud": 5},
        [("local", "cloud", 3), (None, "local", 1), ("cloud", None, 1), ("local", None, 1)],
        n=9,
    )

    before, after = primary_counts(result)

    assert after == {"local": 2, "cloud": 5, NO_MODEL: 2}
    assert before == {"local": 5, "cloud": 3, NO_MODEL: 1}
    assert sum(before.values()) == sum(after.values()) == 9


def test_a_model_gone_from_the_registry_counts_as_cloud_and_the_figure_groups_bars() -> None:
    types = {"local": "local", "cloud": "cloud"}
    totals = what_if_totals(_result({"local": 1, "gone": 1}, [("cloud", "gone", 1)], n=2), types)

    figure = what_if_figure(totals, types)

    assert totals["cloud"] == {
        "before": 1,
        "after": 1,
        "before_percent": 50.0,
        "after_percent": 50.0,
    }
    assert figure["layout"]["barmode"] == "group"
    assert [t["name"] for t in figure["data"]] == ["stored", "re-decided"]
    assert figure["data"][0]["x"] == [
        "cloud (cloud)",
        "gone (not in the registry)",
        "local (local)",
    ]
    assert figure["data"][0]["y"] == [1, 0, 1]
    assert figure["data"][1]["y"] == [0, 1, 1]
