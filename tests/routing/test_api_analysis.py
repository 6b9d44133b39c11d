"""Explain, replay and simulate (what-if) over stored decisions, on the example
configuration in config/ (its local models are simulated, so nothing leaves the host)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from routing.api import errors
from routing.api.analysis_views import MSG_NO_DECISION, MSG_NOT_REPLAYABLE, NOT_REPLAYABLE
from routing.conditions import check_condition
from routing.config_io import import_config
from routing.engine import RouteRequest, decide
from routing.engine.replay import decision_inputs
from routing.models import ConfigSnapshot, Decision, LLMModel, RoutingRule, Strategy
from routing.services import ApiKeyCreated, config_revision_bump
from routing.services.decisions import Outcome, decision_record
from routing.services.simulate import MSG_UNKNOWN_MODEL, MSG_UNKNOWN_STRATEGY
from routing.snapshot import current_snapshot, load_runtime_state
from tests.factories import make_decision, make_strategy_override

pytestmark = pytest.mark.django_db

CONFIG = Path(__file__).resolve().parents[2] / "config"
PII_PROMPT = "Email jane@example.com the architecture review"
CLOUD_PROMPT = "Architect the billing platform"
ROUTINE_PROMPT = "Say hello to the team"


@pytest.fixture
def example() -> None:
    import_config(CONFIG)


def client_for(user: Any = None, key: ApiKeyCreated | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.plaintext}")
    return client


def dry_run(key: ApiKeyCreated, prompt: str, **body: Any) -> Any:
    """POST /api/route with dry_run, as a service: the decision is decided and recorded."""
    return client_for(key=key).post(
        "/api/route",
        {"messages": [{"role": "user", "content": prompt}], "dry_run": True, **body},
        format="json",
    )


def store(
    prompt: str,
    *,
    agent: str,
    tokens: tuple[int, int] = (0, 0),
    attempts: Sequence[tuple[str, str]] | None = None,
) -> Decision:
    """A stored request decided on the current configuration, with known usage and
    attempts ((model, outcome) pairs; by default the primary answered)."""
    snapshot = current_snapshot()
    now = timezone.now()
    state = load_runtime_state(snapshot=snapshot, session_id=None, now=now)
    request = RouteRequest(text=prompt, agent=agent)
    decision = decide(request, snapshot, state, now=now)
    assert decision.primary is not None
    tried = attempts or [(decision.primary.model, "success")]
    outcome = Outcome(
        "success",
        model_used=tried[-1][0],
        provider=snapshot.models[tried[-1][0]].provider,
        attempts=[
            {"model": m, "outcome": o, "reason": None if o == "success" else "http_5xx"}
            for m, o in tried
        ],
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
    )
    return decision_record(
        decision=decision,
        outcome=outcome,
        prompt_text=prompt,
        inputs=decision_inputs(request, state, now),
        api_key=None,
        agent=agent,
        task_id=None,
        session_id=None,
    )


def simulate(user: Any, **body: Any) -> Any:
    window = {
        "since": (timezone.now() - timedelta(hours=1)).isoformat(),
        "until": (timezone.now() + timedelta(hours=1)).isoformat(),
    }
    return client_for(user).post("/api/simulate", window | body, format="json")


# -- explain ------------------------------------------------------------------------------------


def test_explain_tells_a_routed_decision_in_words_and_in_data(
    example: None, service_key: ApiKeyCreated, viewer_user: Any
) -> None:
    decision_id = dry_run(service_key, PII_PROMPT, agent="cto_agent").json()["decision_id"]

    response = client_for(viewer_user).get(f"/api/decisions/{decision_id}/explain")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["outcome"] == "dry_run"
    assert body["strategy"] == {"key": "balanced", "source": "default"}
    assert body["rule"] == "privacy_enforcement"
    assert body["local_only"] is True
    sentences = body["sentences"]
    assert sentences[0] == "Dry run: llama-3-70b would have been tried first; nothing was called."
    assert "Personal data found: email (1)." in sentences
    assert "Strategy balanced was used (default)." in sentences
    assert "Privacy: only local models may serve (PII found (email))." in sentences
    assert "Global rules: privacy_enforcement fired." in sentences
    assert "Chain: llama-3-70b." in sentences
    assert "Warning level: normal." in sentences
    assert "Nothing was called, so nothing was spent." in sentences
    assert (
        "Eliminated 15 models: 7 at privacy (local only: PII found (email)), "
        "8 at capabilities (lacks required capabilities)."
    ) in sentences
    assert "Global rules: rule privacy_enforcement made the request local-only." in sentences
    claude = next(e for e in body["eliminated"] if e["model"] == "claude-3-opus")
    assert claude == {
        "model": "claude-3-opus",
        "step": "privacy",
        "reason": "local only: PII found (email)",
        "values": {},
    }
    (first,) = body["chain"]
    assert first["model"] == "llama-3-70b"
    assert first["why"] == "preferred by agent"
    assert set(first["factors"]) == {
        "task_complexity",
        "cost_efficiency",
        "privacy_requirements",
        "performance_needs",
        "model_availability",
    }
    assert body["factors_source"] == f"replayed on configuration version {body['config_version']}"
    assert body["raw"]["inputs"]["request"]["agent"] == "cto_agent"


def test_explain_tells_why_a_refused_decision_had_no_model(
    example: None, service_key: ApiKeyCreated, viewer_user: Any
) -> None:
    LLMModel.objects.filter(type="local").update(enabled=False)
    config_revision_bump()
    refused = dry_run(service_key, CLOUD_PROMPT, agent="cto_agent", task={"privacy_level": "high"})
    assert refused.status_code == 422
    decision_id = refused.json()["error"]["decision_id"]

    body = client_for(viewer_user).get(f"/api/decisions/{decision_id}/explain").json()

    assert body["outcome"] == "refused"
    assert body["chain"] == []
    assert body["refusal"]["code"] == "no_eligible_model"
    sentences = body["sentences"]
    assert sentences[0] == "Refused before any model was called (no_eligible_model)."
    assert f"Refused (no_eligible_model): {body['refusal']['message']}." in sentences
    assert "Privacy: only local models may serve (privacy level high)." in sentences
    eliminated = next(s for s in sentences if s.startswith("Eliminated"))
    assert "at availability (disabled)" in eliminated
    assert "at privacy (local only: privacy level high)" in eliminated
    assert {e["step"] for e in body["eliminated"]} == {"availability", "privacy"}


def test_explain_of_an_unknown_decision_is_a_404_in_the_envelope(viewer_user: Any) -> None:
    response = client_for(viewer_user).get("/api/decisions/not-a-uuid/explain")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == errors.NOT_FOUND
    assert response.json()["error"]["message"] == MSG_NO_DECISION.format(id="not-a-uuid")


# -- replay -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "agent"),
    [(PII_PROMPT, "cto_agent"), (CLOUD_PROMPT, "cto_agent"), (ROUTINE_PROMPT, "qa_agent")],
)
def test_replay_reproduces_a_stored_decision_on_its_own_configuration(
    example: None, service_key: ApiKeyCreated, viewer_user: Any, prompt: str, agent: str
) -> None:
    decision_id = dry_run(service_key, prompt, agent=agent).json()["decision_id"]

    response = client_for(viewer_user).post(f"/api/decisions/{decision_id}/replay")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stored_config"] == "found"
    assert body["reproduced"] is True
    assert body["differences"] == []
    assert body["changed"] is False
    assert body["would_differ"] == {}
    assert body["stored"] == body["current"]
    assert body["stored"]["chain"] == Decision.objects.get(public_id=decision_id).chain


def test_replay_after_a_config_change_shows_what_would_differ(
    example: None, service_key: ApiKeyCreated, viewer_user: Any
) -> None:
    decision_id = dry_run(service_key, CLOUD_PROMPT, agent="cto_agent").json()["decision_id"]
    # Set after the request was decided: the current configuration includes it anyway.
    make_strategy_override(strategy=Strategy.objects.get(key="privacy_first"))
    config_revision_bump()

    body = client_for(viewer_user).post(f"/api/decisions/{decision_id}/replay").json()

    assert body["reproduced"] is True
    assert body["current_config_version"] == body["stored_config_version"] + 1
    assert body["changed"] is True
    differ = body["would_differ"]
    assert differ["primary"] == {"stored": "claude-3-opus", "current": "llama-3-70b"}
    assert differ["strategy"] == {"stored": "balanced", "current": "privacy_first"}
    assert differ["local_only"] == {"stored": False, "current": True}
    assert differ["estimated_cost_usd"]["current"] == 0.0
    assert differ["estimated_cost_usd"]["stored"] > 0
    assert "primary 'claude-3-opus' -> 'llama-3-70b'" in body["summary"]


def test_replay_says_so_when_the_stored_configuration_is_missing(
    example: None, service_key: ApiKeyCreated, viewer_user: Any
) -> None:
    decision_id = dry_run(service_key, CLOUD_PROMPT, agent="cto_agent").json()["decision_id"]
    ConfigSnapshot.objects.all().delete()

    body = client_for(viewer_user).post(f"/api/decisions/{decision_id}/replay").json()

    assert body["stored_config"] == "missing"
    assert body["reproduced"] is None
    assert body["current"]["primary"] == "claude-3-opus"
    assert body["changed"] is False


def test_explain_without_the_stored_configuration_leaves_out_only_the_factor_scores(
    example: None, service_key: ApiKeyCreated, viewer_user: Any
) -> None:
    decision_id = dry_run(service_key, CLOUD_PROMPT, agent="cto_agent").json()["decision_id"]
    ConfigSnapshot.objects.all().delete()

    body = client_for(viewer_user).get(f"/api/decisions/{decision_id}/explain").json()

    assert body["chain"][0]["model"] == "claude-3-opus"
    assert {c["factors"] for c in body["chain"]} == {None}
    assert body["factors_source"] == (
        f"unavailable: the decision could not be re-run on its configuration version "
        f"{body['config_version']}"
    )
    assert "Strategy balanced was used (default)." in body["sentences"]


def test_explain_reads_a_row_recorded_before_traces_were_kept(viewer_user: Any) -> None:
    row = make_decision(outcome="failed", error_code="all_models_failed", chain=["model-x"])

    body = client_for(viewer_user).get(f"/api/decisions/{row.public_id}/explain").json()

    assert body["sentences"] == [
        "Every model in the chain failed (all_models_failed).",
        "No model was eliminated.",
        "Warning level: normal.",
        "Cost: $0.001000 for 0 prompt and 0 completion tokens.",
    ]


def test_a_decision_without_stored_inputs_cannot_be_replayed(viewer_user: Any) -> None:
    row = make_decision()

    response = client_for(viewer_user).post(f"/api/decisions/{row.public_id}/replay")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == NOT_REPLAYABLE
    assert response.json()["error"]["message"] == MSG_NOT_REPLAYABLE.format(id=row.public_id)


# -- simulate -----------------------------------------------------------------------------------


def test_simulating_performance_optimized_moves_local_traffic_to_the_cloud_at_a_known_cost(
    example: None, operator_user: Any
) -> None:
    tokens = [(1000, 500), (2000, 1000), (300, 200)]
    for prompt_tokens in tokens:
        assert store(ROUTINE_PROMPT, agent="qa_agent", tokens=prompt_tokens).chain[0] == (
            "llama-3-70b"
        )

    response = simulate(operator_user, strategy="performance_optimized")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["requests"] == {
        "considered": 3,
        "re_decided": 3,
        "skipped": 0,
        "moved": 3,
        "unchanged": 0,
    }
    assert body["moves"] == [{"from": "llama-3-70b", "to": "gpt-4-turbo", "count": 3}]
    # llama-3-70b is free; gpt-4-turbo costs $0.01 in and $0.03 out per 1,000 tokens:
    #   1000 * 0.01/1000 + 500 * 0.03/1000  = 0.010 + 0.015 = 0.025
    #   2000 * 0.01/1000 + 1000 * 0.03/1000 = 0.020 + 0.030 = 0.050
    #    300 * 0.01/1000 + 200 * 0.03/1000  = 0.003 + 0.006 = 0.009
    assert body["cost"]["before_usd"] == 0
    assert body["cost"]["after_usd"] == 0.084
    assert body["cost"]["delta_usd"] == 0.084
    assert body["cost"]["unpriced"] == {"before": 0, "after": 0}
    assert body["privacy"]["local_only"] == {"before": 0, "after": 0}
    assert body["refusals"]["before"] == body["refusals"]["after"] == 0
    assert body["draft"]["strategy"] == "performance_optimized"


def test_simulate_expects_fallbacks_from_the_new_primarys_stored_rejections(
    example: None, operator_user: Any
) -> None:
    store(ROUTINE_PROMPT, agent="qa_agent")
    store(
        ROUTINE_PROMPT,
        agent="qa_agent",
        attempts=[("llama-3-70b", "rejected"), ("gpt-4-turbo", "success")],
    )
    store(
        ROUTINE_PROMPT,
        agent="qa_agent",
        attempts=[
            ("llama-3-70b", "rejected"),
            ("gpt-4-turbo", "rejected"),
            ("claude-3-opus", "success"),
        ],
    )

    fallbacks = simulate(operator_user, strategy="performance_optimized").json()["fallbacks"]

    # gpt-4-turbo, the new primary of all three, was rejected in 1 of its 2 stored attempts.
    assert fallbacks["by_model"] == {
        "gpt-4-turbo": {
            "requests": 3,
            "stored_attempts": 2,
            "stored_rejections": 1,
            "rejection_rate": 0.5,
        }
    }
    assert fallbacks["expected"] == 1.5
    assert fallbacks["expected_share"] == 0.5
    assert fallbacks["requests_to_models_with_rejections"] == 3
    assert fallbacks["requests_to_untested_models"] == 0


def test_simulate_counts_privacy_and_refusals_before_and_after(
    example: None, operator_user: Any
) -> None:
    store(PII_PROMPT, agent="cto_agent")
    store(CLOUD_PROMPT, agent="cto_agent")
    store(CLOUD_PROMPT, agent="cto_agent")

    private = simulate(operator_user, strategy="privacy_first").json()
    nothing_left = simulate(
        operator_user,
        strategy="privacy_first",
        changes={"models": {"llama-3-70b": {"enabled": False}}},
    ).json()

    assert private["moves"] == [{"from": "claude-3-opus", "to": "llama-3-70b", "count": 2}]
    assert private["privacy"] == {
        "pii_requests": 1,
        "local_only": {"before": 1, "after": 3},
        "pii_on_cloud": {"before": 0, "after": 0},
    }
    assert private["rule_hits"]["before"] == {"privacy_enforcement": 1}
    # cto_agent needs capabilities only its named local model has.
    assert nothing_left["refusals"] == {
        "before": 0,
        "after": 3,
        "by_code": {"before": {}, "after": {"no_eligible_model": 3}},
    }
    assert nothing_left["moves"] == [
        {"from": "claude-3-opus", "to": None, "count": 2},
        {"from": "llama-3-70b", "to": None, "count": 1},
    ]


def test_draft_changes_are_applied_in_memory_and_never_written(
    example: None, operator_user: Any
) -> None:
    store(CLOUD_PROMPT, agent="cto_agent")
    rules_before = list(RoutingRule.objects.values())
    models_before = list(LLMModel.objects.values())

    body = simulate(
        operator_user,
        changes={
            "rules": [{"name": "all_local", "condition": "true", "action": "switch_to_local_only"}],
            "models": {"claude-3-opus": {"cost_input_per_1k": 1.0}},
            "budgets": [{"scope": "global", "period": "day", "limit_usd": 1000}],
        },
    ).json()

    assert body["privacy"]["local_only"] == {"before": 0, "after": 1}
    assert body["rule_hits"]["after"] == {"all_local": 1}
    assert body["moves"] == [{"from": "claude-3-opus", "to": "llama-3-70b", "count": 1}]
    assert list(RoutingRule.objects.values()) == rules_before
    assert list(LLMModel.objects.values()) == models_before


def test_simulate_re_decides_only_the_ranges_real_traffic_within_the_limit(
    example: None, service_key: ApiKeyCreated, operator_user: Any
) -> None:
    with time_machine.travel(timezone.now() - timedelta(days=2), tick=False):
        store(CLOUD_PROMPT, agent="cto_agent")  # before the range
    dry_run(service_key, CLOUD_PROMPT, agent="cto_agent")  # a dry run is not traffic
    store(CLOUD_PROMPT, agent="cto_agent")
    store(CLOUD_PROMPT, agent="cto_agent")

    everything = simulate(operator_user).json()
    limited = simulate(operator_user, limit=1).json()

    assert everything["requests"]["re_decided"] == 2
    assert everything["truncated"] is False
    assert everything["requests"]["moved"] == 0
    assert limited["requests"]["re_decided"] == 1
    assert limited["truncated"] is True


def test_a_draft_rule_whose_condition_does_not_parse_is_a_400_with_its_position(
    example: None, operator_user: Any
) -> None:
    bad = "task.complexity >"
    response = simulate(
        operator_user,
        changes={
            "rules": [
                {"name": "fine", "condition": "task.complexity > 5", "action": "deny"},
                {"name": "broken", "condition": bad, "action": "deny"},
            ]
        },
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == errors.INVALID_REQUEST
    assert error["details"]["fields"] == {
        "changes": {"rules": {"1": {"condition": [str(check_condition(bad))]}}}
    }
    assert str(check_condition(bad)).startswith("line 1, column ")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"strategy": "nope"}, {"strategy": [MSG_UNKNOWN_STRATEGY.format(key="nope")]}),
        (
            {"changes": {"models": {"nope": {"enabled": False}}}},
            {"changes": {"models": {"nope": [MSG_UNKNOWN_MODEL.format(key="nope")]}}},
        ),
        (
            {"changes": {"models": {"gpt-4o": {"price": 1}}}},
            {"changes": {"models": {"gpt-4o": {"price": ["Unknown field."]}}}},
        ),
        ({"limit": 100_001}, {"limit": ["Ensure this value is less than or equal to 100000."]}),
    ],
)
def test_simulate_refuses_unknown_names_and_bad_values(
    example: None, operator_user: Any, body: dict[str, Any], fields: dict[str, Any]
) -> None:
    response = simulate(operator_user, **body)

    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"] == fields


# -- roles -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "explain", "replay", "simulate_status"),
    [
        ("anonymous", 401, 401, 401),
        ("service", 403, 403, 403),
        ("viewer", 200, 200, 403),
        ("operator", 200, 200, 200),
        ("admin", 200, 200, 200),
    ],
)
def test_viewers_explain_and_replay_operators_also_simulate_and_services_do_neither(
    example: None,
    request: pytest.FixtureRequest,
    actor: str,
    explain: int,
    replay: int,
    simulate_status: int,
) -> None:
    row = store(CLOUD_PROMPT, agent="cto_agent")
    client = {
        "anonymous": lambda: client_for(),
        "service": lambda: client_for(key=request.getfixturevalue("service_key")),
        "viewer": lambda: client_for(request.getfixturevalue("viewer_user")),
        "operator": lambda: client_for(request.getfixturevalue("operator_user")),
        "admin": lambda: client_for(request.getfixturevalue("admin_role_user")),
    }[actor]()
    window = {"since": (timezone.now() - timedelta(hours=1)).isoformat()}

    assert client.get(f"/api/decisions/{row.public_id}/explain").status_code == explain
    assert client.post(f"/api/decisions/{row.public_id}/replay").status_code == replay
    assert client.post("/api/simulate", window, format="json").status_code == simulate_status
