"""JSON Schemas for the structure of each configuration file.

They check shape and ranges (a negative cost, a string where a number belongs, an
unknown key); cross-references (an unknown model, an unknown strategy) and
conditions are checked afterwards, against the files and the database together.
"""

from __future__ import annotations

from typing import Any

from routing.choices import ROUTING_FACTORS, TASK_ROUTE_BANDS

_KEY = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$", "maxLength": 128}
# Agents, strategies, task types and environments have 64-character columns.
_SHORT_KEY = {**_KEY, "maxLength": 64}
_PROVIDER = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_.-]*$", "maxLength": 64}
_TEXT = {"type": "string"}
_BOOL = {"type": "boolean"}
_MONEY = {"type": "number", "minimum": 0}
_COUNT = {"type": "integer", "minimum": 1}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_NAMES = {
    "type": "array",
    "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
    "uniqueItems": True,
}
_URL = {"type": "string", "pattern": r"^https?://[^\s/]+(/\S*)?$", "maxLength": 500}
_PRIVACY = {"enum": ["low", "medium", "high"]}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _map(value: dict[str, Any], keys: dict[str, Any] = _KEY) -> dict[str, Any]:
    """A mapping whose keys match `keys` and whose values match `value`."""
    return {"type": "object", "propertyNames": keys, "additionalProperties": value}


MODELS = _obj(
    {
        "models": _map(
            _obj(
                {
                    "provider": _PROVIDER,
                    "type": {"enum": ["cloud", "local"]},
                    "model_id": {"type": "string", "minLength": 1, "maxLength": 200},
                    "model_path": _TEXT,
                    "endpoint": _URL,
                    "capabilities": _NAMES,
                    "cost_per_1k_tokens": _obj({"input": _MONEY, "output": _MONEY}),
                    "rate_limits": _obj(
                        {"requests_per_minute": _COUNT, "tokens_per_minute": _COUNT}
                    ),
                    "resource_requirements": {
                        "type": "object",
                        "additionalProperties": {"type": ["number", "string", "boolean"]},
                    },
                    "performance": _obj({"tokens_per_second": _POSITIVE}),
                    "context_window": _COUNT,
                    "timeout": _POSITIVE,
                    "enabled": _BOOL,
                },
                required=("provider", "type"),
            )
        )
    },
    required=("models",),
)

_AGENT_RULE = _obj(
    {
        "name": _TEXT,
        "condition": {"type": "string", "minLength": 1},
        "model": _KEY,
        "action": {"type": "string"},
        "enabled": _BOOL,
    },
    required=("condition",),
)

AGENTS = _obj(
    {
        "agents": _map(
            keys=_SHORT_KEY,
            value=_obj(
                {
                    "name": {"type": "string", "minLength": 1},
                    "description": _TEXT,
                    "model_preferences": _obj(
                        {
                            "primary": _KEY,
                            "fallback": _KEY,
                            "local_alternative": _KEY,
                            "budget_mode": _KEY,
                        }
                    ),
                    "routing_rules": {"type": "array", "items": _AGENT_RULE},
                    "capabilities_required": _NAMES,
                    "default_privacy_level": _PRIVACY,
                },
                required=("name",),
            ),
        )
    },
    required=("agents",),
)

# Each entry of a strategy's `rules` list is a one-key mapping (seed 002's shape).
STRATEGY_RULES: dict[str, Any] = {
    "prefer_local_models": _BOOL,
    "prefer_cloud_models": _BOOL,
    "allow_cloud_models": _BOOL,
    "required_model_type": {"enum": ["cloud", "local"]},
    "cloud_budget_per_day": _MONEY,
    "fallback_to_cloud_threshold": _obj(
        {
            "complexity": {"type": "integer", "minimum": 1, "maximum": 10},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        }
    ),
    "parallel_requests": _BOOL,
    "cache_responses": _BOOL,
    "cloud_for_complex_tasks": _BOOL,
    "local_for_routine_tasks": _BOOL,
    "dynamic_routing": _BOOL,
}

ROUTING = _obj(
    {
        "routing": _obj(
            {
                "default_strategy": _SHORT_KEY,
                "strategies": _map(
                    keys=_SHORT_KEY,
                    value=_obj(
                        {
                            "description": _TEXT,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "minProperties": 1,
                                    "maxProperties": 1,
                                    "properties": STRATEGY_RULES,
                                    "additionalProperties": False,
                                },
                            },
                            "weights": _obj(
                                {f: {"type": "number", "minimum": 0} for f in ROUTING_FACTORS}
                            ),
                        }
                    ),
                ),
                "global_rules": {
                    "type": "array",
                    "items": _obj(
                        {
                            "name": {"type": "string", "minLength": 1, "maxLength": 100},
                            "condition": {"type": "string", "minLength": 1},
                            "action": {"type": "string"},
                            "model": _KEY,
                            "enabled": _BOOL,
                        },
                        required=("name", "condition", "action"),
                    ),
                },
                "routing_factors": {
                    "type": "array",
                    "items": _obj(
                        {
                            "name": {"enum": list(ROUTING_FACTORS)},
                            "weight": {"type": "number", "minimum": 0},
                            "calculation": _TEXT,
                        },
                        required=("name", "weight"),
                    ),
                },
            }
        )
    },
    required=("routing",),
)

_LIMITS = _obj(
    {
        "daily": _MONEY,
        "monthly": _MONEY,
        "per_request": _MONEY,
        "warning_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "enabled": _BOOL,
    }
)
_SESSION_TOKENS = _obj(
    {"warning": _COUNT, "switch_to_local": _COUNT}, required=("warning", "switch_to_local")
)

_PROVIDER_ENTRY = _obj(
    {
        "kind": {"enum": ["openai_compatible", "anthropic", "ollama", "simulated"]},
        "base_url": _URL,
        "api_key": {"type": "string"},
        "default_model": {"type": "string", "minLength": 1},
        "models": {
            "oneOf": [
                {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
                {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
            ]
        },
        "rate_limit": _COUNT,
        "timeout": _POSITIVE,
        "options": {
            "type": "object",
            "properties": {
                "latency_ms": {"type": "number", "minimum": 0},
                "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
                "version": {"type": "string"},
            },
            "additionalProperties": False,
        },
    }
)

LLM_ROUTING = _obj(
    {
        "providers": _obj(
            {tier: _map(_PROVIDER_ENTRY, _PROVIDER) for tier in ("local", "fast_cloud", "premium")}
        ),
        "routing_rules": _map(
            keys=_SHORT_KEY,
            value=_map(
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                {"enum": list(TASK_ROUTE_BANDS)},
            ),
        ),
        "cost_limits": _obj(
            {
                "daily_budget": _MONEY,
                "monthly_budget": _MONEY,
                "per_request": _MONEY,
                "warning_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "provider_limits": _map(_LIMITS, _PROVIDER),
                "agent_limits": _map(_LIMITS, _SHORT_KEY),
                "model_limits": _map(_LIMITS),
                "session_tokens": _SESSION_TOKENS,
            }
        ),
        "fallback_chain": {"type": "array", "items": _PROVIDER, "uniqueItems": True},
    }
)

ENVIRONMENT = _obj(
    {
        "routing": _obj(
            {
                "global_overrides": _obj(
                    {
                        "max_cloud_spend_per_day": _MONEY,
                        "require_local_for_pii": _BOOL,
                        "force_local_models": _BOOL,
                        "verbose_routing_logs": _BOOL,
                        "default_strategy": _SHORT_KEY,
                    }
                )
            },
            required=("global_overrides",),
        )
    },
    required=("routing",),
)
