"""The decision engine, table-driven over the seeds' configuration. No database: the
inputs are plain data (tests/engine_data.py) and time is passed in."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from routing.engine import decide
from tests.engine_data import NOW, request, rule, seed_data, snapshot, state, window

ENGINE_DIR = Path(__file__).resolve().parents[2] / "routing" / "engine"


def chain_of(decision) -> list[str]:
    return [c.model for c in decision.chain]


def types_of(decision) -> set[str]:
    return {c.type for c in decision.chain}


def run(text: str = "hello there", snap=None, st=None, now=NOW, **fields):
    return decide(request(text, **fields), snap or snapshot(), st or state(), now=now)


# -- purity --------------------------------------------------------------------------------


FORBIDDEN_MODULES = {
    "django",
    "time",
    "random",
    "uuid",
    "secrets",
    "httpx",
    "requests",
    "socket",
    "os",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


@pytest.mark.parametrize(
    "path", sorted(ENGINE_DIR.rglob("*.py")), ids=lambda p: str(p.relative_to(ENGINE_DIR))
)
def test_the_engine_imports_no_orm_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        else:
            roots = set()
        assert not roots & FORBIDDEN_MODULES, (
            f"{path.name}:{node.lineno} imports {roots & FORBIDDEN_MODULES}"
        )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in FORBIDDEN_CALLS, (
                f"{path.name}:{node.lineno} calls .{node.func.attr}()"
            )


def test_the_same_inputs_always_give_the_same_decision() -> None:
    first = run("Design the payment service architecture", agent="cto_agent").to_dict()
    second = run("Design the payment service architecture", agent="cto_agent").to_dict()
    assert first == second


# -- seed 002: agent rules, first match wins ----------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "fields", "text", "primary", "rule"),
    [
        (
            "cto_agent",
            {"privacy_level": "high"},
            "review our plan",
            "llama-3-70b",
            "#1 task.privacy_level == 'high'",
        ),
        (
            "cto_agent",
            {"complexity": 9},
            "pick a database",
            "claude-3-opus",
            "#2 task.complexity > 8",
        ),
        (
            "backend_agent",
            {"task_type": "code_generation"},
            "write a handler",
            "deepseek-coder-33b",
            "#1 task.type == 'code_generation'",
        ),
        (
            "backend_agent",
            {"complexity": 7, "task_type": "chat"},
            "explain this",
            "claude-3-opus",
            "#2 task.complexity > 6",
        ),
        (
            "frontend_agent",
            {"involves_ui_design": True},
            "a login form",
            "gpt-4-turbo",
            "#1 task.involves_ui_design",
        ),
        (
            "qa_agent",
            {"task_type": "test_generation"},
            "tests for the parser",
            "llama-3-70b",
            "#1 task.type == 'test_generation'",
        ),
        (
            "qa_agent",
            {"requires_reasoning": True, "task_type": "chat"},
            "is this flaky?",
            "gpt-4-turbo",
            "#2 task.requires_reasoning",
        ),
    ],
)
def test_agent_rules_pick_the_model_of_the_first_matching_rule(
    agent, fields, text, primary, rule
) -> None:
    decision = run(text, agent=agent, **fields)
    assert decision.refusal is None, decision.refusal
    assert decision.chain[0].model == primary
    assert decision.rule == rule


def test_when_no_rule_matches_the_agent_preferences_lead_within_the_strategy() -> None:
    decision = run(
        "Architect a distributed security audit pipeline", agent="cto_agent", task_type="planning"
    )
    # balanced: complex work goes to cloud first, and the agent's primary leads there.
    assert decision.chain[0].model == "claude-3-opus"
    assert decision.chain[1].model == "gpt-4-turbo"


def test_a_rule_naming_an_ineligible_model_falls_through_to_the_strategy() -> None:
    data = seed_data()
    next(m for m in data["models"] if m["key"] == "deepseek-coder-33b")["enabled"] = False
    decision = run(
        "write a handler", snap=snapshot(data), agent="backend_agent", task_type="code_generation"
    )
    assert "deepseek-coder-33b" not in chain_of(decision)
    step = next(
        t for t in decision.trace if t.step == "agent_rules" and t.outcome == "model not eligible"
    )
    assert step.detail["why"] == "disabled"


# -- seed 002: global rules -----------------------------------------------------------------------


def test_pii_forces_every_model_in_the_chain_to_be_local() -> None:
    decision = run(
        "Email jane.doe@example.com the invoice", agent="frontend_agent", involves_ui_design=True
    )
    assert decision.pii_types == ("email",)
    assert types_of(decision) == {"local"}
    assert decision.flags.local_only
    gpt = next(e for e in decision.eliminated if e.model == "gpt-4-turbo")
    assert gpt.step == "privacy"
    assert "PII found (email)" in gpt.reason


def test_a_model_near_its_rate_limit_gives_way_to_its_fallback() -> None:
    decision = run(
        "a login form",
        agent="frontend_agent",
        involves_ui_design=True,
        st=state(rate_usage={"gpt-4-turbo": 0.9}),
    )
    assert chain_of(decision)[-1] == "gpt-4-turbo"
    fired = next(t for t in decision.trace if t.step == "global_rules" and "fired" in t.detail)
    assert "rate_limit_protection" in fired.detail["fired"]


def test_the_cost_circuit_breaker_turns_the_request_local_above_80_percent_of_the_daily_budget() -> (
    None
):
    decision = run(
        "Architect the billing system",
        agent="cto_agent",
        st=state(spend={("global", "", "day"): 8.5}),
    )
    assert types_of(decision) == {"local"}
    assert decision.warning_level == "warning"
    assert decision.rule == "cost_circuit_breaker"


def test_a_critical_task_on_a_local_model_is_flagged_for_cloud_verification() -> None:
    decision = run(
        "hello", classification="critical", agent="qa_agent", task_type="test_generation"
    )
    assert decision.chain[0].model == "llama-3-70b"
    assert decision.flags.verify_with_cloud is not None
    assert decision.flags.verify_with_cloud in {
        "gpt-4-turbo",
        "claude-3-opus",
        "claude-sonnet",
        "groq-llama-3.1-70b",
    }


def test_cloud_verification_is_not_asked_for_when_only_local_models_may_see_the_data() -> None:
    decision = run(
        "hello",
        classification="critical",
        agent="qa_agent",
        task_type="test_generation",
        privacy_level="high",
    )
    assert decision.flags.verify_with_cloud is None
    assert any(t.step == "verification" and t.outcome == "impossible" for t in decision.trace)


def test_a_deny_rule_refuses_the_request() -> None:
    data = seed_data()
    data["rules"].append(rule("global", "'secret' in task.tags", "deny", 9, name="no_secrets"))
    decision = run("hi", snap=snapshot(data), tags=("secret",))
    assert decision.refusal.code == "denied_by_rule"
    assert decision.chain == ()


def test_a_condition_that_fails_to_evaluate_is_recorded_not_taken_as_false_silently() -> None:
    data = seed_data()
    data["rules"].insert(
        0,
        rule("global", "task.tags > 3", "deny", 9, name="broken"),
    )
    decision = run("hi", snap=snapshot(data))
    assert decision.refusal is None
    assert any(e.startswith("broken:") for e in decision.errors)


# -- seed 004: session budget and priority order ---------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "classification", "local_only", "level"),
    [
        (10_000, "routine", False, "normal"),
        (150_000, "routine", True, "warning"),
        (150_000, "critical", False, "warning"),
        (180_000, "critical", True, "critical"),
        (180_000, "creative", True, "critical"),
    ],
)
def test_session_token_budgets_warn_then_switch_to_local(
    tokens, classification, local_only, level
) -> None:
    decision = run(
        "Design a distributed cache architecture",
        agent="cto_agent",
        classification=classification,
        session_id="s1",
        st=state(session_tokens=tokens),
    )
    assert decision.flags.local_only is local_only
    assert (types_of(decision) == {"local"}) is local_only
    assert decision.warning_level == level


# -- seed 003: the task table when no agent speaks ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "text", "first"),
    [
        ({"task_type": "embedding"}, "embed this sentence", "nomic-embed-text"),
        ({"task_type": "classification"}, "positive or negative?", "llama-3-70b"),
        (
            {"task_type": "code_generation", "complexity": "simple"},
            "a fizzbuzz function",
            "deepseek-coder-33b",
        ),
        ({"task_type": "reasoning", "complexity": "complex"}, "prove it", "claude-sonnet"),
        ({"task_type": "summarization"}, "summarize: " + "word " * 40_000, "claude-sonnet"),
    ],
)
def test_without_an_agent_the_task_table_of_seed_003_decides_the_preference(
    fields, text, first
) -> None:
    decision = run(text, **fields)
    assert decision.chain[0].model == first


def test_a_long_prompt_never_goes_to_a_model_whose_context_window_is_too_small() -> None:
    decision = run("summarize: " + "word " * 40_000, task_type="summarization")
    small = {e.model for e in decision.eliminated if e.reason == "context window too small"}
    assert {"llama-3-70b", "deepseek-coder-33b"} <= small


# -- seed 000: smallest capable model first ------------------------------------------------------


def test_a_simple_task_goes_to_the_smallest_cheapest_capable_model_first() -> None:
    decision = run("hello")
    assert decision.features["complexity_level"].value == "simple"
    assert decision.chain[0].type == "local"
    costs = [c.estimated_cost_usd for c in decision.chain]
    assert costs == sorted(costs)


def test_a_critical_task_goes_to_a_strong_cloud_model_under_the_balanced_strategy() -> None:
    decision = run("Audit production deployment for security vulnerabilities")
    assert decision.features["complexity_level"].value == "critical"
    assert decision.chain[0].type == "cloud"


def test_cost_optimized_keeps_local_first_below_its_complexity_threshold() -> None:
    snap = snapshot(default_strategy="cost_optimized")
    decision = run("summarize this paragraph", snap=snap, complexity=5)
    assert decision.chain[0].type == "local"
    assert decision.strategy == "cost_optimized"


# -- overrides --------------------------------------------------------------------------------------


def test_a_task_override_wins_over_rules_and_strategy() -> None:
    snap = snapshot(task_overrides=[{**window(), "task_id": "T-1", "model": "gpt-4-turbo"}])
    decision = run(
        "write a handler",
        snap=snap,
        agent="backend_agent",
        task_type="code_generation",
        task_id="T-1",
    )
    assert decision.chain[0].model == "gpt-4-turbo"
    assert decision.chain[0].why == "task override #1"


def test_a_task_override_never_takes_pii_to_the_cloud() -> None:
    snap = snapshot(task_overrides=[{**window(), "task_id": "T-1", "model": "gpt-4-turbo"}])
    decision = run("call me at +44 20 7946 0958", snap=snap, task_id="T-1")
    assert types_of(decision) == {"local"}


def test_an_expired_override_never_applies() -> None:
    expired = window(starts=NOW - timedelta(hours=3), hours=1)
    snap = snapshot(
        task_overrides=[{**expired, "task_id": "T-1", "model": "gpt-4-turbo"}],
        strategy_overrides=[{**expired, "agent": None, "strategy": "privacy_first"}],
    )
    decision = run("hello", snap=snap, task_id="T-1")
    assert decision.chain[0].model != "gpt-4-turbo"
    assert decision.strategy == "balanced"


def test_a_global_strategy_override_applies_until_it_expires() -> None:
    snap = snapshot(
        strategy_overrides=[{**window(hours=2), "agent": None, "strategy": "privacy_first"}]
    )
    during = run("Architect the billing system", snap=snap)
    after = run("Architect the billing system", snap=snap, now=NOW + timedelta(hours=2))
    assert during.strategy == "privacy_first"
    assert types_of(during) == {"local"}
    assert during.strategy_source.startswith("global override #1 until ")
    assert after.strategy == "balanced"


def test_an_agent_strategy_override_beats_the_global_one() -> None:
    snap = snapshot(
        strategy_overrides=[
            {**window(id=1), "agent": None, "strategy": "privacy_first"},
            {**window(id=2), "agent": "cto_agent", "strategy": "performance_optimized"},
        ]
    )
    decision = run("hello", snap=snap, agent="cto_agent")
    assert decision.strategy == "performance_optimized"
    assert decision.flags.cache_allowed
    assert decision.flags.hedge


def test_an_agent_model_override_pins_the_model_when_no_rule_matches() -> None:
    snap = snapshot(
        agent_model_overrides=[{**window(hours=None), "agent": "cto_agent", "model": "qwen-2-72b"}]
    )
    decision = run("hello", snap=snap, agent="cto_agent")
    assert decision.chain[0].model == "qwen-2-72b"


def test_force_local_mode_keeps_every_request_local_until_it_expires() -> None:
    snap = snapshot(
        force_local={
            "on": True,
            "expires_at": (NOW + timedelta(hours=1)).isoformat(),
            "reason": "incident",
        }
    )
    assert types_of(run("Architect the billing system", snap=snap)) == {"local"}
    assert "cloud" in types_of(
        run("Architect the billing system", snap=snap, now=NOW + timedelta(hours=1))
    )


# -- budgets -------------------------------------------------------------------------------------------


def test_an_exhausted_budget_blocks_paid_models_but_never_a_free_local_one() -> None:
    decision = run(
        "Architect the billing system",
        agent="cto_agent",
        st=state(spend={("global", "", "day"): 10.0}),
    )
    assert types_of(decision) == {"local"}
    assert decision.warning_level == "critical"
    assert decision.refusal is None


def test_when_only_paid_models_could_serve_an_exhausted_budget_refuses_with_its_scope() -> None:
    data = seed_data()
    for model in data["models"]:
        if model["type"] == "local":
            model["enabled"] = False
    decision = run("hello", snap=snapshot(data), st=state(spend={("global", "", "day"): 12.0}))
    assert decision.refusal.code == "budget_exceeded"
    assert decision.refusal.details["budget"]["scope"] == "global"
    assert "limit $10.00" in decision.refusal.message


def test_a_model_above_the_per_request_cap_is_eliminated() -> None:
    decision = run("analyze " + "token " * 40_000, agent="cto_agent", complexity=8)
    opus = next(e for e in decision.eliminated if e.model == "claude-3-opus")
    assert "per-request cap" in opus.reason
    assert opus.values["cap_usd"] == 0.5


def test_privacy_fails_closed_when_no_local_model_is_up() -> None:
    data = seed_data()
    for model in data["models"]:
        if model["type"] == "local":
            model["enabled"] = False
    decision = run("hi", snap=snapshot(data), privacy_level="high")
    assert decision.refusal.code == "no_eligible_model"
    assert "only local models may serve (privacy level high)" in decision.refusal.message
    assert decision.chain == ()


def test_an_unknown_agent_is_refused() -> None:
    decision = run("hi", agent="nobody")
    assert decision.refusal.code == "unknown_agent"


# -- A/B experiments --------------------------------------------------------------------------------------


def test_an_experiment_splits_by_weight_and_sticks_to_a_session() -> None:
    snap = snapshot(
        experiments=[
            {
                "key": "qwen-vs-llama",
                "agent": "qa_agent",
                "sticky_by": "session",
                "variants": [
                    {"model": "qwen-2-72b", "weight": 1},
                    {"model": "llama-3-70b", "weight": 3},
                ],
            }
        ]
    )
    picks = [
        run("is this flaky?", snap=snap, agent="qa_agent", session_id=f"s{i}").chain[0].model
        for i in range(400)
    ]
    assert 0.15 < picks.count("qwen-2-72b") / 400 < 0.35
    again = [
        run("other text", snap=snap, agent="qa_agent", session_id=f"s{i}").chain[0].model
        for i in range(400)
    ]
    assert picks == again


# -- the result ------------------------------------------------------------------------------------------


def test_the_chain_has_no_duplicates_and_every_loser_says_why() -> None:
    decision = run("Email jane@example.com about the deploy", agent="cto_agent")
    models = chain_of(decision)
    assert len(models) == len(set(models))
    assert 0 < len(models) <= 4
    assert {e.model for e in decision.eliminated} | set(models) == {
        m["key"] for m in seed_data()["models"]
    }
    assert all(e.step and e.reason for e in decision.eliminated)
    for candidate in decision.chain:
        assert set(candidate.factors) == {
            "task_complexity",
            "cost_efficiency",
            "privacy_requirements",
            "performance_needs",
            "model_availability",
        }


def test_a_decision_serializes_to_plain_json() -> None:
    import json

    data = run("Email jane@example.com", agent="cto_agent").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["config_version"] == 7
    assert data["features"]["privacy_level"] == {"value": "low", "source": "agent_default"}


def test_a_task_classified_critical_goes_to_the_cloud_first_as_in_seed_004() -> None:
    decision = run("rename this variable", classification="critical")
    assert decision.features["complexity_level"].value == "simple"
    assert decision.chain[0].type == "cloud"
    assert decision.features["critical"].value is True
