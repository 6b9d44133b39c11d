"""Engine inputs for tests that never touch the database: the seeds' configuration as
plain data (the shape routing.snapshot.load_config_data returns)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from routing.engine import RouteRequest, RuntimeState, Snapshot, build_snapshot

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _model(
    key: str,
    provider: str,
    tier: str,
    type_: str,
    caps: list[str],
    cin: float | None,
    cout: float | None,
    ctx: int | None,
    tps: float | None = None,
    kind: str = "openai_compatible",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "key": key,
        "provider": provider,
        "provider_kind": kind,
        "tier": tier,
        "type": type_,
        "capabilities": caps,
        "cost_input_per_1k": cin,
        "cost_output_per_1k": cout,
        "context_window": ctx,
        "requests_per_minute": extra.get("rpm"),
        "tokens_per_minute": extra.get("tpm"),
        "tokens_per_second": tps,
        "enabled": extra.get("enabled", True),
    }


SEED_MODELS = [
    _model(
        "claude-3-opus",
        "anthropic",
        "premium",
        "cloud",
        ["code_generation", "architecture_design", "complex_reasoning"],
        0.015,
        0.075,
        200_000,
        kind="anthropic",
        rpm=50,
        tpm=100_000,
    ),
    _model(
        "claude-sonnet",
        "anthropic",
        "premium",
        "cloud",
        [
            "code_generation",
            "complex_reasoning",
            "general_reasoning",
            "summarization",
            "code_review",
        ],
        0.003,
        0.015,
        200_000,
        kind="anthropic",
    ),
    _model(
        "gpt-4-turbo",
        "openai",
        "premium",
        "cloud",
        ["code_generation", "general_reasoning", "ui_design"],
        0.01,
        0.03,
        128_000,
        rpm=60,
        tpm=150_000,
    ),
    _model(
        "groq-llama-3.1-70b",
        "groq",
        "fast_cloud",
        "cloud",
        ["general_reasoning", "classification", "summarization"],
        0.0001,
        0.0001,
        32_768,
        tps=500,
    ),
    _model(
        "llama-3-70b",
        "simulated",
        "local",
        "local",
        ["code_generation", "general_reasoning"],
        0,
        0,
        8192,
        tps=30,
        kind="simulated",
    ),
    _model(
        "deepseek-coder-33b",
        "simulated",
        "local",
        "local",
        ["code_generation", "code_completion"],
        0,
        0,
        16_384,
        tps=45,
        kind="simulated",
    ),
    _model(
        "qwen-2-72b",
        "simulated",
        "local",
        "local",
        ["general_reasoning", "multilingual"],
        0,
        0,
        32_768,
        tps=25,
        kind="simulated",
    ),
    _model(
        "nomic-embed-text",
        "simulated",
        "local",
        "local",
        ["embedding"],
        0,
        0,
        8192,
        kind="simulated",
    ),
]


def rule(
    scope: str,
    condition: str,
    action: str,
    position: int,
    model: str | None = None,
    agent: str | None = None,
    name: str = "",
) -> dict[str, Any]:
    return {
        "scope": scope,
        "agent": agent,
        "name": name,
        "position": position,
        "condition": condition,
        "action": action,
        "model": model,
        "enabled": True,
    }


SEED_RULES = [
    rule(
        "global",
        "model.rate_limit_approaching",
        "switch_to_fallback",
        0,
        name="rate_limit_protection",
    ),
    rule(
        "global",
        "daily_cost > budget * 0.8",
        "switch_to_local_only",
        1,
        name="cost_circuit_breaker",
    ),
    rule("global", "data.contains_pii", "force_local_model", 2, name="privacy_enforcement"),
    rule(
        "global",
        "task.critical and model.type == 'local'",
        "require_cloud_verification",
        3,
        name="quality_assurance",
    ),
    rule("agent", "task.privacy_level == 'high'", "use_model", 0, "llama-3-70b", "cto_agent"),
    rule("agent", "task.complexity > 8", "use_model", 1, "claude-3-opus", "cto_agent"),
    rule("agent", "cost_limit_reached", "use_model", 2, "llama-3-70b", "cto_agent"),
    rule(
        "agent",
        "task.type == 'code_generation'",
        "use_model",
        0,
        "deepseek-coder-33b",
        "backend_agent",
    ),
    rule("agent", "task.complexity > 6", "use_model", 1, "claude-3-opus", "backend_agent"),
    rule("agent", "budget_mode == true", "use_model", 2, "llama-3-70b", "backend_agent"),
    rule("agent", "task.involves_ui_design", "use_model", 0, "gpt-4-turbo", "frontend_agent"),
    rule("agent", "task.privacy_level == 'high'", "use_model", 1, "llama-3-70b", "frontend_agent"),
    rule("agent", "task.type == 'test_generation'", "use_model", 0, "llama-3-70b", "qa_agent"),
    rule("agent", "task.requires_reasoning", "use_model", 1, "gpt-4-turbo", "qa_agent"),
]

SEED_AGENTS = [
    {
        "key": "cto_agent",
        "primary": "claude-3-opus",
        "fallback": "gpt-4-turbo",
        "local_alternative": "llama-3-70b",
        "budget_mode": None,
        "capabilities_required": ["architecture_design", "complex_reasoning", "code_generation"],
        "default_privacy_level": "low",
    },
    {
        "key": "backend_agent",
        "primary": "deepseek-coder-33b",
        "fallback": "claude-3-opus",
        "local_alternative": None,
        "budget_mode": "llama-3-70b",
        "capabilities_required": ["code_generation", "code_completion"],
        "default_privacy_level": "low",
    },
    {
        "key": "frontend_agent",
        "primary": "gpt-4-turbo",
        "fallback": "claude-3-opus",
        "local_alternative": "llama-3-70b",
        "budget_mode": None,
        "capabilities_required": ["code_generation", "ui_design"],
        "default_privacy_level": "low",
    },
    {
        "key": "qa_agent",
        "primary": "llama-3-70b",
        "fallback": "gpt-4-turbo",
        "local_alternative": None,
        "budget_mode": None,
        "capabilities_required": ["code_analysis", "test_generation"],
        "default_privacy_level": "low",
    },
]


def _strategy(key: str, **params: Any) -> dict[str, Any]:
    base = {
        "key": key,
        "prefer_local": None,
        "prefer_cloud": None,
        "allow_cloud": None,
        "required_model_type": "",
        "cloud_budget_per_day": None,
        "complexity_threshold": None,
        "confidence_threshold": None,
        "parallel_requests": None,
        "cache_responses": None,
        "cloud_for_complex_tasks": None,
        "local_for_routine_tasks": None,
        "dynamic_routing": None,
        "weights": {},
    }
    return base | params


SEED_STRATEGIES = [
    _strategy(
        "cost_optimized",
        prefer_local=True,
        cloud_budget_per_day=100.0,
        complexity_threshold=7,
        confidence_threshold=0.6,
    ),
    _strategy(
        "performance_optimized", prefer_cloud=True, parallel_requests=True, cache_responses=True
    ),
    _strategy("privacy_first", allow_cloud=False, required_model_type="local"),
    _strategy(
        "balanced", cloud_for_complex_tasks=True, local_for_routine_tasks=True, dynamic_routing=True
    ),
]


def seed_data() -> dict[str, Any]:
    return copy.deepcopy(
        {
            "version": 7,
            "models": SEED_MODELS,
            "provider_default_models": {"simulated": "llama-3-70b", "groq": "groq-llama-3.1-70b"},
            "agents": SEED_AGENTS,
            "rules": SEED_RULES,
            "strategies": SEED_STRATEGIES,
            "default_strategy": "balanced",
            "factor_weights": None,
            "task_routes": [
                {
                    "task_type": "reasoning",
                    "band": "simple",
                    "position": 0,
                    "provider": "simulated",
                    "model": None,
                },
                {
                    "task_type": "reasoning",
                    "band": "simple",
                    "position": 1,
                    "provider": "groq",
                    "model": None,
                },
                {
                    "task_type": "reasoning",
                    "band": "complex",
                    "position": 0,
                    "provider": "anthropic",
                    "model": "claude-sonnet",
                },
                {
                    "task_type": "reasoning",
                    "band": "complex",
                    "position": 1,
                    "provider": "openai",
                    "model": None,
                },
                {
                    "task_type": "code_generation",
                    "band": "simple",
                    "position": 0,
                    "provider": "simulated",
                    "model": "deepseek-coder-33b",
                },
                {
                    "task_type": "code_generation",
                    "band": "complex",
                    "position": 0,
                    "provider": "anthropic",
                    "model": "claude-sonnet",
                },
                {
                    "task_type": "classification",
                    "band": "all",
                    "position": 0,
                    "provider": "simulated",
                    "model": None,
                },
                {
                    "task_type": "embedding",
                    "band": "all",
                    "position": 0,
                    "provider": "simulated",
                    "model": "nomic-embed-text",
                },
                {
                    "task_type": "summarization",
                    "band": "short",
                    "position": 0,
                    "provider": "simulated",
                    "model": None,
                },
                {
                    "task_type": "summarization",
                    "band": "long",
                    "position": 0,
                    "provider": "anthropic",
                    "model": "claude-sonnet",
                },
            ],
            "fallback_chain": ["simulated", "groq", "anthropic", "openai"],
            "strategy_overrides": [],
            "agent_model_overrides": [],
            "task_overrides": [],
            "force_local": None,
            "environment": None,
            "budgets": [
                {
                    "scope": "global",
                    "target": "",
                    "period": "day",
                    "limit_usd": 10.0,
                    "per_request_usd": None,
                    "warning_threshold": 0.8,
                },
                {
                    "scope": "provider",
                    "target": "anthropic",
                    "period": "day",
                    "limit_usd": 5.0,
                    "per_request_usd": 0.5,
                    "warning_threshold": 0.8,
                },
                {
                    "scope": "provider",
                    "target": "openai",
                    "period": "day",
                    "limit_usd": 5.0,
                    "per_request_usd": 0.5,
                    "warning_threshold": 0.8,
                },
            ],
            "session_budget": {"warning_tokens": 150_000, "switch_tokens": 180_000},
            "agent_session_budgets": {},
            "experiments": [],
        }
    )


def snapshot(data: dict[str, Any] | None = None, **changes: Any) -> Snapshot:
    base = seed_data() if data is None else data
    base.update(changes)
    return build_snapshot(base)


def window(
    starts: datetime = NOW - timedelta(hours=1),
    hours: float | None = 2,
    id: int = 1,
    reason: str = "test",
) -> dict[str, Any]:
    expires = None if hours is None else (starts + timedelta(hours=hours)).isoformat()
    return {"id": id, "starts_at": starts.isoformat(), "expires_at": expires, "reason": reason}


def request(text: str = "hello there", **fields: Any) -> RouteRequest:
    return RouteRequest(text=text, **fields)


def state(**fields: Any) -> RuntimeState:
    return RuntimeState(**fields)
