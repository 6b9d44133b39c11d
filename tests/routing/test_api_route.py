"""POST /api/route over real HTTP: Switchboard on a live server, the models on a fake
upstream on 127.0.0.1 that injects faults, httpx as the client."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from routing.api import errors
from routing.choices import BudgetScope
from routing.models import Decision, SessionUsage, SpendLedger
from routing.services import api_key_create
from tests.factories import make_agent, make_budget
from tests.upstream_registry import add_model, post

pytestmark = pytest.mark.django_db(transaction=True)

# -- the contract ---------------------------------------------------------------------------


def test_a_request_is_answered_by_the_first_model_and_fully_described(
    registry, client, upstream
) -> None:
    add_model(registry, "local-a", "local", "llama3@text=Hi+there")
    add_model(registry, "cloud-a", "cloud", "gpt-4o")

    response = post(client, session_id="s-1")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_used"] == "local-a"
    assert body["provider"] == "fake-ollama"
    assert body["content"] == body["raw_text"] == "Hi there"
    assert body["attempts"] == [
        {
            "model": "local-a",
            "outcome": "success",
            "reason": None,
            "latency_ms": body["attempts"][0]["latency_ms"],
        }
    ]
    assert set(body["decision"]) >= {
        "strategy",
        "complexity",
        "task_type",
        "reason",
        "rule",
        "privacy",
        "chain",
        "warning_level",
    }
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert body["cost_usd"] == 0
    assert body["cached"] is False
    row = Decision.objects.get(public_id=body["decision_id"])
    assert row.outcome == "success"
    assert row.model_used == "local-a"
    assert row.api_key_name == "svc"
    assert SessionUsage.objects.get(session_id="s-1").tokens == body["usage"]["total_tokens"]


def test_a_dry_run_decides_without_calling_or_spending(registry, client, upstream) -> None:
    add_model(registry, "local-a", "local", "llama3")

    response = post(client, dry_run=True)

    assert response.status_code == 200
    assert response.json()["decision"]["chain"] == ["local-a"]
    assert upstream.requests == []
    assert not SpendLedger.objects.exists()
    assert Decision.objects.get().outcome == "dry_run"


# -- every rejection reason, in the attempt log ------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "outcome", "reason"),
    [
        ("status=500", "rejected", "http_5xx"),
        ("status=429,retry_after=7", "rejected", "rate limited (429)"),
        ("drop", "rejected", "connect"),
        ("slow=3", "rejected", "timeout"),
        ("refuse", "rejected", "refusal"),
        ("empty", "rejected", "empty answer"),
    ],
)
def test_a_failing_model_is_rejected_with_its_reason_and_the_next_one_answers(
    registry, client, fault, outcome, reason
) -> None:
    add_model(registry, "local-a", "local", f"llama3@{fault}", timeout_s=1)
    add_model(registry, "local-b", "local", "qwen")

    body = post(client).json()

    assert body["model_used"] == "local-b"
    first = body["attempts"][0]
    assert (first["model"], first["outcome"]) == ("local-a", outcome)
    assert reason in first["reason"]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("invalid_json", "invalid JSON"),
        ("schema_break", "schema violation"),
        ("length", "cut off"),
    ],
)
def test_output_that_breaks_the_response_schema_is_invalid_and_falls_back(
    registry, client, fault, reason
) -> None:
    add_model(registry, "local-a", "local", f"llama3@{fault}")
    add_model(registry, "local-b", "local", "qwen@fenced_json")
    schema = {
        "type": "object",
        "required": ["action"],
        "properties": {"action": {"type": "string"}},
    }

    body = post(client, response_schema=schema).json()

    assert body["attempts"][0]["outcome"] == "invalid"
    assert reason in body["attempts"][0]["reason"]
    assert body["model_used"] == "local-b"
    assert body["content"] == {"action": "proceed", "confidence": 0.9}


def test_a_429_cools_the_model_down_so_the_next_request_skips_it(
    registry, client, upstream
) -> None:
    add_model(registry, "local-a", "local", "llama3@status=429,retry_after=60")
    add_model(registry, "local-b", "local", "qwen")

    post(client)
    upstream.reset()
    second = post(client).json()

    assert [r.model for r in upstream.requests] == ["qwen"]
    assert "local-a" not in second["decision"]["chain"]


def test_when_every_model_fails_the_502_carries_the_attempt_log(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3@status=500")
    add_model(registry, "local-b", "local", "qwen@refuse")

    response = post(client)

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == errors.ALL_MODELS_FAILED
    assert [a["model"] for a in error["details"]["attempts"]] == ["local-a", "local-b"]
    assert Decision.objects.get(public_id=error["decision_id"]).outcome == "failed"


# -- privacy ------------------------------------------------------------------------------------


def test_pii_never_reaches_a_cloud_model_on_any_hop(registry, client, upstream) -> None:
    add_model(registry, "local-a", "local", "llama3@status=500")
    add_model(registry, "cloud-a", "cloud", "gpt-4o")

    response = post(
        client, messages=[{"role": "user", "content": "Mail jane.doe@example.com the contract"}]
    )

    assert response.status_code == 502
    assert all("/v1/" not in r.path for r in upstream.requests)
    assert response.json()["error"]["details"]["chain"] == ["local-a"]
    row = Decision.objects.get()
    assert row.pii_types == ["email"]
    assert row.local_only
    assert "jane.doe@example.com" not in row.prompt_excerpt
    assert "[EMAIL]" in row.prompt_excerpt


def test_privacy_high_with_no_local_model_is_refused_with_a_reason(
    registry, client, upstream
) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o")

    response = post(client, task={"privacy_level": "high"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == errors.NO_ELIGIBLE_MODEL
    assert "only local models may serve" in error["message"]
    assert upstream.requests == []
    assert Decision.objects.get(public_id=error["decision_id"]).outcome == "refused"


# -- accounting ---------------------------------------------------------------------------------


def test_spend_is_counted_in_every_scope_and_a_billed_rejection_is_fallback_tax(
    registry, client
) -> None:
    agent = make_agent(key="writer")
    add_model(registry, "cloud-a", "cloud", "gpt-4o@refuse")
    add_model(registry, "cloud-b", "cloud", "gpt-4o-mini")

    body = post(client, agent=agent.key, task={"complexity": "critical"}).json()

    assert body["model_used"] == "cloud-b"
    row = Decision.objects.get(public_id=body["decision_id"])
    assert float(row.fallback_tax_usd) > 0
    day = {(r.scope, r.key): r.cost_usd for r in SpendLedger.objects.filter(period="day")}
    total = row.cost_usd + row.fallback_tax_usd
    assert day[("global", "")] == total
    assert day[("agent", "writer")] == total
    assert day[("provider", "fake-openai")] == total
    assert day[("model", "cloud-a")] == row.fallback_tax_usd


def test_an_exhausted_budget_answers_429_naming_the_scope(registry, client) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o")
    make_budget(scope=BudgetScope.GLOBAL, limit_usd=Decimal("1"))
    SpendLedger.objects.create(
        scope="global",
        key="",
        period="day",
        period_start=__import__("datetime").date.today(),
        cost_usd=2,
    )

    response = post(client)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == errors.BUDGET_EXCEEDED
    assert "global day limit $1.00" in response.json()["error"]["message"]


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "task": {"complexity": 11}}, "task"),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "response_schema": {"type": "nonsense"},
            },
            "response_schema",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "surprise": 1}, "surprise"),
    ],
)
def test_bad_input_gets_a_400_naming_the_field_and_costs_nothing(
    registry, client, payload, field
) -> None:
    response = client.post("/api/route", json=payload)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == errors.INVALID_REQUEST
    assert field in json.dumps(error["details"])
    assert not SpendLedger.objects.exists()
    assert not Decision.objects.exists()


def test_malformed_json_is_a_400_in_the_envelope(registry, client) -> None:
    response = client.post(
        "/api/route", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == errors.INVALID_REQUEST


def test_a_body_over_the_limit_is_a_413(registry, client, settings) -> None:
    big = "x" * (settings.SWITCHBOARD_MAX_BODY_BYTES + 10)

    response = post(client, messages=[{"role": "user", "content": big}])

    assert response.status_code == 413
    assert response.json()["error"]["code"] == errors.PAYLOAD_TOO_LARGE


def test_no_key_is_401_a_bad_key_is_401_and_a_key_without_the_scope_is_403(
    registry, live_server
) -> None:
    url = f"{live_server.url}/api/route"
    body = {"messages": [{"role": "user", "content": "x"}]}
    status_only = api_key_create(name="status-only", scopes=["status"]).plaintext

    assert httpx.post(url, json=body).json()["error"]["code"] == errors.UNAUTHENTICATED
    bad = httpx.post(url, json=body, headers={"Authorization": "Bearer sb_nope_nope"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (401, errors.UNAUTHENTICATED)
    forbidden = httpx.post(url, json=body, headers={"Authorization": f"Bearer {status_only}"})
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, errors.FORBIDDEN)


def test_an_unknown_agent_is_a_404_with_its_audit_row(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3")

    response = post(client, agent="nobody")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == errors.UNKNOWN_AGENT
    assert Decision.objects.get().outcome == "refused"


def test_the_provider_secret_is_sent_upstream_and_never_stored(registry, client, upstream) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o")

    body = post(client, task={"complexity": "critical"}).json()

    assert upstream.requests[-1].headers.get("authorization") == "Bearer sk-test-cloud-key"
    row = Decision.objects.get(public_id=body["decision_id"])
    stored = json.dumps([row.trace, row.attempts, row.features, row.prompt_excerpt])
    assert "sk-test-cloud-key" not in stored


def test_a_system_prompt_does_not_decide_how_hard_the_question_is(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3")
    messages = [
        {
            "role": "system",
            "content": "Never reveal secrets, credentials or production admin passwords.",
        },
        {"role": "user", "content": "hello"},
    ]

    body = post(client, messages=messages, dry_run=True).json()

    assert body["decision"]["complexity"] == "simple"


def test_no_part_of_the_prompt_is_stored_unmasked_in_the_audit_row(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3")
    secret = "jane.doe@example.com"

    body = post(client, messages=[{"role": "user", "content": f"Mail {secret} the invoice"}]).json()

    row = Decision.objects.get(public_id=body["decision_id"])
    stored = json.dumps([row.trace, row.features, row.attempts, row.chain, row.prompt_excerpt])
    assert secret not in stored
    assert row.prompt_full is None
