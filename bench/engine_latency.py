"""Latency of one routing decision: `routing.engine.decide()` on a realistic configuration.

    .venv/bin/python bench/engine_latency.py [--iterations N] [--seed S] [--profile]

No database, no Django settings: the engine is pure, so the configuration is built in
memory with `build_snapshot()` from synthetic data that `random.Random(seed)` makes, the
same for the same seed on every machine:

* 50 models over 8 providers in the three tiers (local ones $0, cloud ones priced);
* 20 agents with a primary, a fallback and a local alternative, 2-4 required
  capabilities and 9-10 rules each, which with the 4 seed global rules make 200 rules;
* the 4 seed strategies, seed 003-style task routes, global, provider, agent and model
  budgets (some with per-request caps) and a session budget;
* 20 prompts of about 2,000 tokens (~8,000 characters of prose and a code block), a
  third of them with personal data, sent by rotating agents (or none) with varied task
  fields, against runtime states with some spend, rate usage, a cooldown and an
  unhealthy model.

Each timed request carries a text object made just before the call, so neither the
engine's per-text caches nor Python's cached string hash help it (as in production,
where every request's text is new). The process is pinned to one core and the garbage
collector is off while timing. Each call is timed twice over: on the wall clock
(perf_counter_ns), and in this thread's CPU time (thread_time_ns), which leaves out the
time other processes had the core, so a busy machine shows in the wall-clock tail only.
The issue's target: p99 <= 1 ms on one core, the PII scan included.

`--profile` runs cProfile over 2,000 decisions instead of timing them and prints the top
25 functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import os
import platform
import pstats
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from any directory
    sys.path.insert(0, str(ROOT))

from routing.engine import (  # noqa: E402
    RouteRequest,
    RuntimeState,
    Snapshot,
    build_snapshot,
    decide,
)
from routing.engine import features as feat  # noqa: E402
from routing.engine.pii import scan_pii  # noqa: E402
from tests.engine_data import SEED_RULES, SEED_STRATEGIES, seed_data  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WARMUP = 200
PROFILE_DECISIONS = 2000
TARGET_P99_US = 1000.0
TARGET_TOKENS = 2000
N_RULES = 200

# -- models -----------------------------------------------------------------------------

CAPABILITIES = (
    "code_generation",
    "code_completion",
    "code_review",
    "code_analysis",
    "test_generation",
    "general_reasoning",
    "complex_reasoning",
    "architecture_design",
    "summarization",
    "classification",
    "multilingual",
    "ui_design",
    "vision",
    "tools",
    "long_context",
)

# provider -> (provider kind, [(model key, tier)]): 8 providers, 50 models.
PROVIDERS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "simulated": (
        "simulated",
        [
            ("llama-3-70b", "local"),
            ("deepseek-coder-33b", "local"),
            ("qwen-2-72b", "local"),
            ("mixtral-8x7b-local", "local"),
            ("phi-3-medium", "local"),
            ("codellama-34b", "local"),
            ("starcoder2-15b", "local"),
            ("nomic-embed-text", "local"),
        ],
    ),
    "ollama": (
        "ollama",
        [
            ("llama-3.1-8b", "local"),
            ("qwen-2.5-14b", "local"),
            ("mistral-7b", "local"),
            ("phi-3-mini", "local"),
            ("gemma-2-9b", "local"),
            ("codegemma-7b", "local"),
            ("deepseek-r1-14b", "local"),
            ("granite-3-8b", "local"),
        ],
    ),
    "groq": (
        "openai_compatible",
        [
            ("groq-llama-3.1-70b", "fast_cloud"),
            ("groq-llama-3.1-8b", "fast_cloud"),
            ("groq-mixtral-8x7b", "fast_cloud"),
            ("groq-gemma-2-9b", "fast_cloud"),
            ("groq-qwen-2.5-32b", "fast_cloud"),
        ],
    ),
    "together": (
        "openai_compatible",
        [
            ("together-llama-3.1-405b", "fast_cloud"),
            ("together-qwen-2.5-72b", "fast_cloud"),
            ("together-deepseek-v3", "fast_cloud"),
            ("together-mixtral-8x22b", "fast_cloud"),
            ("together-codellama-70b", "fast_cloud"),
        ],
    ),
    "mistral": (
        "openai_compatible",
        [
            ("mistral-small", "fast_cloud"),
            ("codestral", "fast_cloud"),
            ("ministral-8b", "fast_cloud"),
            ("mistral-medium", "premium"),
            ("mistral-large", "premium"),
        ],
    ),
    "anthropic": (
        "anthropic",
        [
            ("claude-3-opus", "premium"),
            ("claude-sonnet", "premium"),
            ("claude-3.5-haiku", "fast_cloud"),
            ("claude-3.7-sonnet", "premium"),
            ("claude-opus-4", "premium"),
            ("claude-sonnet-4", "premium"),
        ],
    ),
    "openai": (
        "openai_compatible",
        [
            ("gpt-4-turbo", "premium"),
            ("gpt-4o", "premium"),
            ("gpt-4o-mini", "fast_cloud"),
            ("gpt-4.1", "premium"),
            ("gpt-4.1-mini", "fast_cloud"),
            ("o3-mini", "premium"),
            ("o1", "premium"),
        ],
    ),
    "google": (
        "openai_compatible",
        [
            ("gemini-1.5-pro", "premium"),
            ("gemini-1.5-flash", "fast_cloud"),
            ("gemini-2.0-flash", "fast_cloud"),
            ("gemini-2.5-pro", "premium"),
            ("gemini-2.5-flash", "fast_cloud"),
            ("gemini-2.0-pro", "premium"),
        ],
    ),
}
LOCAL_PROVIDERS = ("simulated", "ollama")
CLOUD_PROVIDERS = ("groq", "together", "mistral", "anthropic", "openai", "google")


def make_models(rng: random.Random) -> list[dict[str, Any]]:
    models = []
    for provider, (kind, entries) in PROVIDERS.items():
        for key, tier in entries:
            local = tier == "local"
            if key == "nomic-embed-text":  # seed 003 routes embeddings to it
                caps, cin, cout, ctx, rpm, tpm, tps = (
                    ["embedding"],
                    0.0,
                    0.0,
                    8192,
                    None,
                    None,
                    None,
                )
            elif local:
                caps = rng.sample(CAPABILITIES[:12], rng.randint(3, 5))
                cin = cout = 0.0
                ctx = rng.choice((8192, 16_384, 32_768, 32_768, 65_536, 131_072))
                rpm = tpm = None
                tps = float(rng.randint(15, 90))
            elif tier == "fast_cloud":
                caps = rng.sample(CAPABILITIES, rng.randint(4, 7))
                cin = round(rng.uniform(0.00005, 0.0008), 6)
                cout = round(cin * rng.uniform(1.5, 4.0), 6)
                ctx = rng.choice((32_768, 128_000, 128_000, 200_000, 1_000_000))
                rpm = rng.choice((30, 60, 120, 300, 1000))
                tpm = rpm * rng.choice((1000, 2000, 5000))
                tps = float(rng.randint(150, 900))
            else:
                caps = rng.sample(CAPABILITIES, rng.randint(6, 10))
                cin = round(rng.uniform(0.001, 0.015), 5)
                cout = round(cin * rng.uniform(3.0, 5.0), 5)
                ctx = rng.choice((128_000, 200_000, 200_000, 1_000_000, 2_000_000))
                rpm = rng.choice((50, 60, 100, 500))
                tpm = rpm * rng.choice((1000, 2000, 4000))
                tps = float(rng.randint(40, 180))
            models.append(
                {
                    "key": key,
                    "provider": provider,
                    "provider_kind": kind,
                    "tier": tier,
                    "type": "local" if local else "cloud",
                    "capabilities": sorted(caps),
                    "cost_input_per_1k": cin,
                    "cost_output_per_1k": cout,
                    "context_window": ctx,
                    "requests_per_minute": rpm,
                    "tokens_per_minute": tpm,
                    "tokens_per_second": tps,
                    "enabled": True,
                }
            )
    # One model an operator switched off.
    models[rng.randrange(len(models))]["enabled"] = False
    return models


# -- agents and rules -------------------------------------------------------------------

AGENT_KEYS = (
    "cto_agent",
    "backend_agent",
    "frontend_agent",
    "qa_agent",
    "devops_agent",
    "security_agent",
    "data_agent",
    "docs_agent",
    "support_agent",
    "research_agent",
    "mobile_agent",
    "infra_agent",
    "sre_agent",
    "pm_agent",
    "design_agent",
    "analytics_agent",
    "ml_agent",
    "review_agent",
    "triage_agent",
    "translation_agent",
)
TASK_TYPES = (
    "code_generation",
    "code_review",
    "debug",
    "test_generation",
    "summarization",
    "planning",
    "analysis",
    "reasoning",
    "documentation",
    "translation",
    "classification",
    "extraction",
    "chat",
)
TAGS = ("urgent", "customer", "internal", "batch", "experiment", "release", "hotfix")
PII_KINDS = ("email", "phone", "credit_card")


@dataclass(frozen=True)
class Catalogue:
    """The generated models, grouped the way the rule templates pick them."""

    models: Sequence[dict[str, Any]]

    def keys(self, pick: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [m["key"] for m in self.models if pick(m)]

    @property
    def local(self) -> list[str]:
        return self.keys(lambda m: m["type"] == "local")

    @property
    def premium(self) -> list[str]:
        return self.keys(lambda m: m["tier"] == "premium")

    @property
    def fast(self) -> list[str]:
        return self.keys(lambda m: m["tier"] == "fast_cloud")

    @property
    def long_context(self) -> list[str]:
        return self.keys(lambda m: m["context_window"] >= 200_000)

    def with_capability(self, cap: str) -> list[str]:
        return self.keys(lambda m: cap in m["capabilities"]) or self.premium


def make_agents(rng: random.Random, cat: Catalogue) -> list[dict[str, Any]]:
    agents = []
    usable = [m for m in cat.models if m["enabled"]]
    for index, key in enumerate(AGENT_KEYS):
        # Required capabilities come from one real model, so some models satisfy them.
        model = rng.choice(usable)
        required = rng.sample(model["capabilities"], min(len(model["capabilities"]), 2 + index % 3))
        capable_cloud = [
            m["key"]
            for m in usable
            if m["type"] == "cloud" and set(required) <= set(m["capabilities"])
        ] or cat.premium
        primary = rng.choice(capable_cloud)
        fallback = rng.choice([k for k in cat.premium + cat.fast if k != primary])
        agents.append(
            {
                "key": key,
                "primary": primary,
                "fallback": fallback,
                "local_alternative": rng.choice(cat.local),
                "budget_mode": rng.choice(cat.local) if index % 4 == 1 else None,
                "capabilities_required": sorted(required),
                "default_privacy_level": (
                    "high" if key == "security_agent" else "medium" if index % 7 == 3 else "low"
                ),
            }
        )
    return agents


def make_agent_rules(
    rng: random.Random, agent: dict[str, Any], cat: Catalogue, count: int
) -> list[dict[str, Any]]:
    """`count` rules for one agent: mostly use_model, with a force_local_model, a
    switch_to_fallback and a require_cloud_verification; about a third read model.*."""
    r = rng
    tt = lambda: r.choice(TASK_TYPES)  # noqa: E731
    n = lambda lo, hi: r.randint(lo, hi)  # noqa: E731
    named = [agent["primary"], agent["fallback"]]
    strong = cat.with_capability("complex_reasoning")
    use_model: list[Callable[[], tuple[str, str | None]]] = [
        lambda: (
            f"task.type == '{tt()}' and task.complexity >= {n(4, 8)}",
            r.choice(named + cat.premium),
        ),
        lambda: (
            f"task.type in ['{tt()}', '{tt()}'] and not data.contains_pii",
            r.choice(named + cat.fast),
        ),
        lambda: (f"task.complexity > {n(7, 9)}", r.choice(strong)),
        lambda: ("task.privacy_level == 'high'", agent["local_alternative"]),
        lambda: ("budget_mode == true", r.choice(cat.local + cat.fast)),
        lambda: ("cost_limit_reached", r.choice(cat.local)),
        lambda: (f"daily_cost > budget * 0.{n(6, 7)}", r.choice(cat.local + cat.fast)),
        lambda: (
            f"task.estimated_tokens > {n(8, 60) * 500} and task.type == '{tt()}'",
            r.choice(cat.long_context),
        ),
        lambda: (f"task.requires_reasoning and task.complexity >= {n(5, 8)}", r.choice(strong)),
        lambda: ("task.involves_ui_design", r.choice(cat.with_capability("ui_design"))),
        lambda: (f"'{r.choice(TAGS)}' in task.tags", r.choice(named + cat.fast)),
        lambda: (
            "task.classification == 'critical' and task.complexity_level in "
            "['complex', 'critical']",
            r.choice(cat.premium),
        ),
        lambda: (
            f"session_tokens > {n(5, 15) * 10_000} and task.complexity_level == 'simple'",
            r.choice(cat.local),
        ),
        # model.* with a model named: evaluated against that one model only.
        lambda: (f"not model.rate_limit_approaching and task.complexity >= {n(6, 9)}", None),
        lambda: (
            f"model.context_window >= 200000 and task.estimated_tokens > {n(2, 40) * 1000}",
            None,
        ),
    ]
    force_local = [
        lambda: f"'{r.choice(PII_KINDS)}' in data.pii_types",
        lambda: f"data.contains_pii and task.type == '{tt()}'",
        # model.* without a model: evaluated against every eligible model.
        lambda: f"model.provider == '{r.choice(CLOUD_PROVIDERS)}' and task.privacy_level != 'low'",
        lambda: "warning_level != 'normal' and task.classification == 'routine'",
    ]
    fallback = [
        lambda: "model.rate_limit_approaching and model.tier == 'premium'",
        lambda: f"model.cost_per_1k_output > 0.0{n(2, 6)} and task.complexity < {n(3, 6)}",
        lambda: f"session_tokens > {n(10, 17) * 10_000}",
    ]
    verify = [
        lambda: f"model.type == 'local' and task.complexity >= {n(6, 8)}",
        lambda: f"task.critical and task.type in ['{tt()}', '{tt()}']",
    ]
    rows: list[tuple[str, str, str | None]] = []
    rows.append((r.choice(force_local)(), "force_local_model", None))
    rows.append((r.choice(fallback)(), "switch_to_fallback", None))
    rows.append((r.choice(verify)(), "require_cloud_verification", None))
    for template in r.sample(use_model, count - len(rows)):
        condition, model = template()
        rows.append((condition, "use_model", model or r.choice(named + strong)))
    r.shuffle(rows)
    return [
        {
            "scope": "agent",
            "agent": agent["key"],
            "name": f"{agent['key']}:{position}",
            "position": position,
            "condition": condition,
            "action": action,
            "model": model,
            "enabled": True,
        }
        for position, (condition, action, model) in enumerate(rows)
    ]


# -- the rest of the configuration ------------------------------------------------------


def make_task_routes(cat: Catalogue) -> list[dict[str, Any]]:
    """Seed 003's table, extended to the other task types and to these providers."""
    routes = [dict(r) for r in seed_data()["task_routes"]]
    extra = [
        ("code_review", "simple", ["simulated", "groq"]),
        ("code_review", "medium", ["together", "anthropic"]),
        ("code_review", "complex", ["anthropic", "openai"]),
        ("debug", "all", ["simulated", "openai", "anthropic"]),
        ("test_generation", "all", ["ollama", "groq"]),
        ("planning", "all", ["anthropic", "google"]),
        ("analysis", "simple", ["ollama"]),
        ("analysis", "complex", ["google", "openai"]),
        ("documentation", "all", ["ollama", "mistral"]),
        ("translation", "all", ["mistral", "google"]),
        ("chat", "all", ["ollama", "groq"]),
        ("extraction", "all", ["simulated", "together"]),
        ("reasoning", "medium", ["together", "anthropic"]),
        ("code_generation", "medium", ["simulated", "mistral", "anthropic"]),
    ]
    for task_type, band, providers in extra:
        for position, provider in enumerate(providers):
            routes.append(
                {
                    "task_type": task_type,
                    "band": band,
                    "position": position,
                    "provider": provider,
                    "model": None,
                }
            )
    routes.append(
        {
            "task_type": "code_generation",
            "band": "complex",
            "position": 1,
            "provider": "openai",
            "model": "gpt-4.1",
        }
    )
    assert all(r["model"] is None or r["model"] in cat.keys(lambda m: True) for r in routes)
    return routes


def make_budgets() -> list[dict[str, Any]]:
    def budget(scope: str, target: str, period: str, limit: float, cap: float | None = None):
        return {
            "scope": scope,
            "target": target,
            "period": period,
            "limit_usd": limit,
            "per_request_usd": cap,
            "warning_threshold": 0.8,
        }

    return [
        budget("global", "", "day", 250.0),
        budget("global", "", "month", 6000.0),
        budget("provider", "anthropic", "day", 80.0, 0.50),
        budget("provider", "openai", "day", 80.0, 0.08),
        budget("provider", "google", "day", 50.0, 0.25),
        budget("provider", "groq", "day", 10.0, 0.02),
        budget("provider", "together", "day", 15.0, 0.02),
        budget("provider", "mistral", "day", 20.0, 0.05),
        budget("agent", "research_agent", "day", 30.0),
        budget("agent", "cto_agent", "day", 40.0, 0.60),
        budget("model", "claude-3-opus", "day", 25.0),
    ]


def make_config(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    models = make_models(rng)
    cat = Catalogue(models)
    agents = make_agents(rng, cat)
    global_rules = [dict(r) for r in SEED_RULES if r["scope"] == "global"]
    per_agent = N_RULES - len(global_rules)
    rules = list(global_rules)
    for index, agent in enumerate(agents):
        # 196 agent rules over 20 agents: the first 16 get 10, the last 4 get 9.
        count = per_agent // len(agents) + (index < per_agent % len(agents))
        rules += make_agent_rules(rng, agent, cat, count)
    data = seed_data()
    return {
        "version": 42,
        "models": models,
        "provider_default_models": {
            provider: entries[0][0] for provider, (_kind, entries) in PROVIDERS.items()
        },
        "agents": agents,
        "rules": rules,
        "strategies": [dict(s) for s in SEED_STRATEGIES],
        "default_strategy": "balanced",
        "factor_weights": None,
        "task_routes": make_task_routes(cat),
        "fallback_chain": ["simulated", "ollama", "groq", "anthropic", "openai"],
        "strategy_overrides": [
            {
                "id": 1,
                "starts_at": (NOW - timedelta(days=2)).isoformat(),
                "expires_at": None,
                "reason": "security review",
                "agent": "security_agent",
                "strategy": "privacy_first",
            },
            {
                "id": 2,
                "starts_at": (NOW - timedelta(hours=3)).isoformat(),
                "expires_at": (NOW + timedelta(days=1)).isoformat(),
                "reason": "cost week",
                "agent": "data_agent",
                "strategy": "cost_optimized",
            },
        ],
        "agent_model_overrides": [
            {
                "id": 3,
                "starts_at": (NOW - timedelta(hours=1)).isoformat(),
                "expires_at": (NOW + timedelta(hours=5)).isoformat(),
                "reason": "trial",
                "agent": "support_agent",
                "model": "claude-3.5-haiku",
            }
        ],
        "task_overrides": [
            {
                "id": 4,
                "starts_at": (NOW - timedelta(hours=1)).isoformat(),
                "expires_at": None,
                "reason": "incident",
                "task_id": "task-0007",
                "model": "claude-sonnet-4",
            }
        ],
        "force_local": None,
        "environment": None,
        "budgets": make_budgets(),
        "session_budget": data["session_budget"],
        "agent_session_budgets": {
            "research_agent": {"warning_tokens": 300_000, "switch_tokens": 400_000}
        },
        "experiments": [],
    }


def make_states(rng: random.Random, models: Sequence[dict[str, Any]]) -> list[RuntimeState]:
    """Five runtime states: daily spend from 16% to 76% of the global limit (the cost
    circuit breaker trips at 80%), one session past its token warning level."""
    keys = [m["key"] for m in models]
    states = []
    for global_day, session_tokens in (
        (95.0, 0),
        (40.0, 24_000),
        (150.0, 90_000),
        (190.0, 40_000),
        (120.0, 155_000),
    ):
        spend = {
            ("global", "", "day"): global_day,
            ("global", "", "month"): global_day * 21,
            ("provider", "anthropic", "day"): global_day * 0.3,
            ("provider", "openai", "day"): global_day * 0.25,
            ("provider", "google", "day"): global_day * 0.1,
            ("provider", "groq", "day"): 2.5,
            ("provider", "together", "day"): 4.0,
            ("provider", "mistral", "day"): 17.0,  # 85%: its cloud models are held back
            ("agent", "research_agent", "day"): 12.0,
            ("agent", "cto_agent", "day"): 18.0,
            ("model", "claude-3-opus", "day"): 11.0,
        }
        usage = {key: round(rng.uniform(0.05, 0.95), 2) for key in rng.sample(keys, 18)}
        states.append(
            RuntimeState(
                spend=MappingProxyType(spend),
                session_tokens=session_tokens,
                cooling_down=MappingProxyType({rng.choice(keys): NOW + timedelta(seconds=40)}),
                rate_usage=MappingProxyType(usage),
                unhealthy=frozenset({rng.choice(keys)}),
            )
        )
    return states


# -- prompts ----------------------------------------------------------------------------

# Neutral context: none of these words is a keyword or a task trigger of the classifier,
# so what a prompt is about comes from its topic's sentences (and its code block).
FILLER = (
    "Our team runs a small web shop that sells outdoor equipment in several countries.",
    "Most of the traffic arrives in the evening, when customers browse after work.",
    "The service was written four years ago by a contractor who has since left.",
    "We store orders in a relational database and keep product images in object storage.",
    "The warehouse staff use a tablet app to pick and pack the parcels each morning.",
    "Response times are usually fine, although the nightly batch jobs slow things down.",
    "Two people on the team are new and still learning how the pieces fit together.",
    "The marketing department would like weekly numbers on returns and repeat customers.",
    "We moved to a managed hosting provider last spring to reduce the operations burden.",
    "Customer support receives around three hundred messages on a busy day.",
    "Shipping costs changed in October, and the checkout page still shows the old rates.",
    "The mobile app and the website share the same backend services.",
    "Our budget for infrastructure is limited, so we prefer solutions that are cheap to run.",
    "Please keep the tone friendly and avoid jargon where possible.",
    "A short answer is fine as long as it covers the main points.",
    "The team meets on Tuesdays to go over open tickets and priorities.",
    "Several customers mentioned that the confirmation messages arrive late.",
    "We keep the configuration in environment variables and a few YAML files.",
    "The product catalogue has about twelve thousand items in forty groups.",
    "Peak season starts in November and lasts until the middle of January.",
    "The owner of the company wants to understand the trade-offs before deciding.",
    "We log every request with its duration and the status returned to the client.",
    "Some older orders were imported from a spreadsheet and have missing values.",
    "The team prefers small, incremental changes over a big rewrite.",
    "Our hosting bill went up by a third over the last quarter.",
    "Most customers pay by card, a few by bank transfer.",
    "The support team works in two shifts and hands over open cases at noon.",
    "Returns are processed by a partner warehouse near the border.",
)
# What each prompt is about: (name, sentences). Two of the fourteen are critical.
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "debug",
        (
            "Since Monday the checkout page fails for some customers with a timeout error.",
            "The traceback below shows where the worker crashes when the export runs.",
            "I tried to fix it by raising the timeout, but the job still fails once an hour.",
            "It is not working on the staging server either, although it works on my laptop.",
            "Please help me debug this and tell me what causes the exception.",
        ),
    ),
    (
        "code_generation",
        (
            "Please implement a function that computes the shipping cost from the weight.",
            "Write the code in Python and keep it compatible with the existing invoice class.",
            "The new endpoint should return the order history for one customer as JSON.",
            "Refactor the snippet below so that the retry logic lives in one place.",
            "A small script that imports the supplier price list every night would help.",
        ),
    ),
    (
        "code_review",
        (
            "Please review this pull request before we merge it.",
            "Look at the diff below and tell me whether it changes behaviour for old orders.",
            "Give feedback on naming, structure and anything that looks risky.",
            "The linter is happy, but I would like a second opinion on the approach.",
            "Point out any vulnerability you can spot in the way input is handled.",
        ),
    ),
    (
        "test_generation",
        (
            "Write unit tests for the shipping cost calculation, including the edge cases.",
            "We use pytest, and fixtures for the database are already available.",
            "Coverage of the invoice module is low, so the tests should cover discounts too.",
            "Mock the carrier service so the tests run without network access.",
            "Add test cases for empty orders, a single item and very large quantities.",
        ),
    ),
    (
        "summarization",
        (
            "Please summarize the meeting notes below for the people who could not attend.",
            "A short summary with the key points and the open questions would be ideal.",
            "Condense the discussion into a recap of about ten lines.",
            "The managers only want the gist: what was decided and who owns each action.",
        ),
    ),
    (
        "planning",
        (
            "We need a plan for moving the shop to the new hosting platform.",
            "Draft a roadmap with milestones for the next two quarters.",
            "The migration must not interrupt sales in peak season, so the schedule matters.",
            "List the risks of the timeline and how we could reduce them.",
        ),
    ),
    (
        "analysis",
        (
            "Analyze the sales numbers below and compare this year with last year.",
            "Which trends do you see in returns by region, and what insights can we draw?",
            "Evaluate whether the discount campaign paid off, using the metrics in the table.",
            "Assess the two options for the recommendation engine and their running costs.",
        ),
    ),
    (
        "translation",
        (
            "Translate the customer notice below into French, German and Spanish.",
            "Keep the translation friendly and informal, as in the English original.",
            "The Japanese version is only needed for the product descriptions.",
        ),
    ),
    (
        "classification",
        (
            "Classify each support message as shipping, returns, account or other.",
            "Give the sentiment of each customer comment as positive, neutral or negative.",
            "Label the messages that look like spam so we can filter them out.",
        ),
    ),
    (
        "documentation",
        (
            "Write documentation for the order export module, starting with a README.",
            "Add docstrings to the functions below and describe their parameters.",
            "The docs should say how to configure the nightly jobs.",
        ),
    ),
    (
        "operations (critical)",
        (
            "We deploy to production every Thursday, and the last deployment broke a page.",
            "The deployment script prints the database credentials to the log.",
            "Someone with admin rights deleted a batch of orders by mistake.",
            "Rotate the secret keys used by the checkout service without downtime.",
        ),
    ),
    (
        "reasoning",
        (
            "A puzzle from our logistics team: how should parcels be split across carriers?",
            "Solve it step by step and show the equation you use.",
            "Calculate the probability that an order arrives late if a carrier is late "
            "one day in twenty.",
        ),
    ),
    (
        "payments (critical)",
        (
            "The payment provider charged some customers twice during the production outage.",
            "We need to reconcile the payments with the bank statement and refund duplicates.",
        ),
    ),
    (
        "extraction",
        (
            "Extract the order number, the date and the amount from each message below.",
            "Parse the supplier invoices and list the fields that are missing.",
            "Named entities such as people and places should be listed separately.",
        ),
    ),
)
QUESTIONS = (
    "What would you change?",
    "Is there a simpler way to do this?",
    "Which of these risks is the most serious?",
    "How long would this take for one person?",
    "Does this handle time zones correctly?",
)
CODE_BLOCKS = (
    (
        "python",
        """from dataclasses import dataclass
from decimal import Decimal


@dataclass
class Invoice:
    customer_id: int
    lines: list[tuple[str, int, Decimal]]
    currency: str = "EUR"

    def total(self) -> Decimal:
        amount = Decimal("0")
        for _sku, quantity, price in self.lines:
            amount += price * quantity
        return amount.quantize(Decimal("0.01"))


def apply_discount(invoice: Invoice, percent: int) -> Decimal:
    if not 0 <= percent <= 100:
        raise ValueError(f"bad discount {percent}")
    total = invoice.total()
    return (total * (100 - percent) / 100).quantize(Decimal("0.01"))


def retry(call, attempts=3):
    last = None
    for attempt in range(attempts):
        try:
            return call()
        except TimeoutError as exc:
            last = exc
    raise last
""",
    ),
    (
        "sql",
        """SELECT c.region, t.name AS tier, date_trunc('month', o.created_at) AS month,
       count(*) AS orders, sum(o.amount) AS revenue
FROM orders o
JOIN customers c ON c.id = o.customer_id
JOIN tiers t ON t.id = c.tier_id
WHERE o.created_at >= now() - interval '6 months'
  AND o.status IN ('paid', 'refunded')
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_status
    ON orders (created_at, status);
""",
    ),
    (
        "javascript",
        """export async function fetchWithRetry(url, options = {}, attempts = 3) {
  let lastProblem;
  for (let i = 0; i < attempts; i++) {
    try {
      const response = await fetch(url, { ...options, signal: AbortSignal.timeout(5000) });
      if (!response.ok) {
        throw new Error(`HTTP ${response.status}`);
      }
      return await response.json();
    } catch (problem) {
      lastProblem = problem;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** i));
    }
  }
  throw lastProblem;
}

function Button({ label, onClick, disabled }) {
  return (
    <button className="btn btn-primary" onClick={onClick} disabled={disabled}>
      {label}
    </button>
  );
}
""",
    ),
    (
        "go",
        """package cache

import (
	"sync"
	"time"
)

type entry struct {
	value   []byte
	expires time.Time
}

type Cache struct {
	mu      sync.RWMutex
	entries map[string]entry
}

func (c *Cache) Get(key string) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key]
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	return e.value, true
}
""",
    ),
    (
        "text",
        """Traceback (most recent call last):
  File "/srv/app/worker.py", line 88, in run
    result = handler(job)
  File "/srv/app/handlers/export.py", line 41, in handler
    rows = fetch_rows(job.account_id, since=job.since)
  File "/srv/app/db.py", line 120, in fetch_rows
    cursor.execute(QUERY, params)
psycopg.errors.QueryCanceled: canceling statement due to statement timeout
2026-11-24 03:12:44,118 WARNING retrying export job 18234 (attempt 2 of 5)
2026-11-24 03:13:51,902 ERROR export job 18234 failed after 5 attempts
""",
    ),
)
# Fake but well-formed personal data: the card number passes the Luhn check.
PII_SENTENCES = (
    "You can reach the account owner at jane.doe@example.com if anything is unclear.",
    "The customer called from +44 20 7946 0958 and again from (415) 555-0132 yesterday.",
    "The charge was declined for card 4111 1111 1111 1111, so please check the gateway.",
)


def make_prompt(rng: random.Random, index: int) -> str:
    """About 2,000 tokens: filler and the topic's sentences in paragraphs, a code block
    in most prompts, a question now and then; personal data in every third prompt."""
    _name, topic = TOPICS[index % len(TOPICS)]
    language, code = CODE_BLOCKS[index % len(CODE_BLOCKS)]
    with_code = index % 10 < 7
    pii = list(rng.sample(PII_SENTENCES, rng.randint(1, 3))) if index % 3 == 0 else []
    parts = [rng.choice(topic)]

    def text() -> str:
        return "\n\n".join(parts)

    code_at = rng.randint(2, 5)
    while feat.estimate_tokens(text()) < TARGET_TOKENS:
        sentences = [*rng.sample(FILLER, rng.randint(3, 5)), rng.choice(topic)]
        rng.shuffle(sentences)
        if pii and rng.random() < 0.5:
            sentences.append(pii.pop())
        parts.append(" ".join(sentences))
        if with_code and len(parts) == code_at:
            parts.append(f"```{language}\n{code}```")
        if rng.random() < 0.2:
            parts.append(rng.choice(QUESTIONS))
    parts.extend(pii)  # whatever was not placed yet
    return text()


@dataclass(frozen=True)
class Case:
    """A request without its text: the text comes from the rotating prompts."""

    fields: dict[str, Any]
    state: int


def make_cases(rng: random.Random, count: int, n_states: int) -> list[Case]:
    cases = []
    for i in range(count):
        fields: dict[str, Any] = {
            "agent": None if i % 10 == 9 else rng.choice(AGENT_KEYS),
            "session_id": f"session-{rng.randrange(200):04d}",
            "tags": tuple(rng.sample(TAGS, rng.randint(0, 2))),
        }
        if rng.random() < 0.5:
            fields["task_type"] = rng.choice(TASK_TYPES)
        if rng.random() < 0.3:
            fields["complexity"] = rng.choice((rng.randint(1, 10), "simple", "medium", "complex"))
        if rng.random() < 0.2:
            fields["classification"] = rng.choice(("routine", "creative", "critical"))
        if rng.random() < 0.15:
            fields["privacy_level"] = rng.choice(("low", "medium", "high"))
        if rng.random() < 0.2:
            fields["requires_reasoning"] = rng.random() < 0.5
        if rng.random() < 0.1:
            fields["involves_ui_design"] = True
        if rng.random() < 0.3:
            fields["max_tokens"] = rng.choice((256, 1024, 2048, 4096))
        if rng.random() < 0.05:
            fields["task_id"] = "task-0007"
        elif rng.random() < 0.4:
            fields["task_id"] = f"task-{rng.randrange(10_000):04d}"
        cases.append(Case(fields, rng.randrange(n_states)))
    return cases


# -- the workload -----------------------------------------------------------------------


@dataclass
class Workload:
    snapshot: Snapshot
    prompts: list[str]
    cases: list[Case]
    states: list[RuntimeState]
    config: dict[str, Any]

    def request(self, i: int) -> tuple[RouteRequest, RuntimeState]:
        """Request number i. Its text is a new object equal to one of the prompts: no
        cached hash, and (with 20 prompts in turn) never in the engine's 4-entry caches."""
        case = self.cases[i % len(self.cases)]
        text = self.prompts[i % len(self.prompts)] + "\n"
        return RouteRequest(text=text, **case.fields), self.states[case.state]

    def fresh_text(self, i: int) -> str:
        return self.prompts[i % len(self.prompts)] + "\n"


def build_workload(seed: int) -> Workload:
    config = make_config(seed)
    snapshot = build_snapshot(config)
    broken = [
        r.label
        for r in (*snapshot.global_rules, *(r for a in snapshot.agents.values() for r in a.rules))
        if r.compile_error
    ]
    if broken:
        raise SystemExit(f"rules that do not compile: {broken}")
    rng = random.Random(seed + 1)
    prompts = [make_prompt(rng, i) for i in range(20)]
    states = make_states(rng, config["models"])
    cases = make_cases(rng, 499, len(states))  # 499 and 20 are coprime: many pairings
    return Workload(snapshot, prompts, cases, states, config)


# -- measuring --------------------------------------------------------------------------


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {0})
            return "pinned to core 0"
        except OSError as exc:
            return f"not pinned ({exc})"
    return "not pinned (no sched_setaffinity here)"


def percentile(ordered: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in microseconds."""
    index = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[index] / 1000


# CPU time of this thread: unlike the wall clock it does not run while another process
# has the core, so it shows the engine's own cost on a busy machine.
cpu_clock = getattr(time, "thread_time_ns", time.process_time_ns)


@dataclass
class Timings:
    """Nanoseconds per call: wall clock (perf_counter_ns) and this thread's CPU time."""

    wall: list[int]
    cpu: list[int]

    @classmethod
    def empty(cls, n: int) -> Timings:
        return cls([0] * n, [0] * n)

    def sorted(self) -> Timings:
        return Timings(sorted(self.wall), sorted(self.cpu))


def time_decisions(work: Workload, iterations: int) -> Timings:
    for i in range(WARMUP):
        request, state = work.request(i)
        decide(request, work.snapshot, state, now=NOW)
    times = Timings.empty(iterations)
    wall, cpu = times.wall, times.cpu
    clock = time.perf_counter_ns
    snapshot = work.snapshot
    gc.collect()
    gc.disable()
    try:
        for i in range(iterations):
            request, state = work.request(WARMUP + i)
            cpu_start = cpu_clock()
            start = clock()
            decide(request, snapshot, state, now=NOW)
            end = clock()
            cpu[i] = cpu_clock() - cpu_start
            wall[i] = end - start
    finally:
        gc.enable()
    return times


def features_only(text: str) -> None:
    tokens = feat.estimate_tokens(text)
    feat.classify_complexity(text, tokens)
    feat.infer_task_type(text)


def time_features(work: Workload, iterations: int) -> tuple[Timings, Timings]:
    """Feature extraction (tokens, complexity, task type) and the PII scan, timed apart
    on the same fresh texts as the decisions."""
    for i in range(WARMUP):
        text = work.fresh_text(i)
        features_only(text)
        scan_pii(text)
    words = Timings.empty(iterations)
    pii = Timings.empty(iterations)
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for i in range(iterations):
            text = work.fresh_text(WARMUP + i)
            cpu_start = cpu_clock()
            start = clock()
            features_only(text)
            end = clock()
            words.cpu[i] = cpu_clock() - cpu_start
            words.wall[i] = end - start
            cpu_start = cpu_clock()
            start = clock()
            scan_pii(text)
            end = clock()
            pii.cpu[i] = cpu_clock() - cpu_start
            pii.wall[i] = end - start
    finally:
        gc.enable()
    return words, pii


def outcome_summary(work: Workload, count: int) -> dict[str, Any]:
    """What the timed decisions decide, so the workload can be seen to be realistic."""
    refused: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    pii = local_only = errors = 0
    chain = eliminated = trace = 0
    for i in range(count):
        request, state = work.request(WARMUP + i)
        d = decide(request, work.snapshot, state, now=NOW)
        pii += bool(d.pii_types)
        local_only += d.flags.local_only
        errors += bool(d.errors)
        chain += len(d.chain)
        eliminated += len(d.eliminated)
        trace += len(d.trace)
        if d.refusal is not None:
            refused[d.refusal.code] += 1
        else:
            tiers[work.snapshot.models[d.chain[0].model].tier] += 1
    return {
        "with PII": f"{pii / count:.0%}",
        "local only": f"{local_only / count:.0%}",
        "refused": dict(refused) or 0,
        "primary tier": {k: f"{v / count:.0%}" for k, v in sorted(tiers.items())},
        "with rule errors": errors,
        "mean chain / eliminated / trace steps": (
            f"{chain / count:.1f} / {eliminated / count:.1f} / {trace / count:.1f}"
        ),
    }


def print_header(work: Workload, pinned: str) -> None:
    snap = work.snapshot
    rules = len(snap.global_rules) + sum(len(a.rules) for a in snap.agents.values())
    providers = {m.provider for m in snap.models.values()}
    chars = [len(p) for p in work.prompts]
    tokens = [feat.estimate_tokens(p) for p in work.prompts]
    with_pii = sum(bool(scan_pii(p)) for p in work.prompts)
    print(f"python      {platform.python_implementation()} {platform.python_version()}")
    print(f"machine     {platform.machine()}, {os.cpu_count()} CPUs, {pinned}")
    print(
        f"config      {len(snap.models)} models, {len(providers)} providers, "
        f"{len(snap.agents)} agents, {rules} rules ({len(snap.global_rules)} global), "
        f"{len(snap.strategies)} strategies, {sum(map(len, snap.task_routes.values()))} "
        f"task routes, {len(snap.budgets)} budgets"
    )
    print(
        f"prompts     {len(work.prompts)} ({with_pii} with PII), "
        f"{min(chars)}-{max(chars)} chars, {min(tokens)}-{max(tokens)} estimated tokens"
    )


def row(name: str, ordered: Sequence[int], extra: str = "") -> str:
    return (
        f"{name:<30}{percentile(ordered, 0.50):>9.1f}{percentile(ordered, 0.90):>9.1f}"
        f"{percentile(ordered, 0.99):>9.1f}{ordered[-1] / 1000:>9.1f}  {extra}".rstrip()
    )


def load_note() -> str:
    if not hasattr(os, "getloadavg"):
        return "unknown"
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def run_timing(work: Workload, iterations: int) -> None:
    print(f"load before {load_note()}")
    decisions = time_decisions(work, iterations).sorted()
    words, pii = time_features(work, iterations)
    both = Timings(
        [a + b for a, b in zip(words.wall, pii.wall, strict=True)],
        [a + b for a, b in zip(words.cpu, pii.cpu, strict=True)],
    ).sorted()
    words, pii = words.sorted(), pii.sorted()
    print(f"load after  {load_note()}")
    print(f"iterations  {iterations} (after {WARMUP} warm-up), GC off, times in microseconds")
    for label, pick in (
        ("wall (perf_counter_ns)", lambda t: t.wall),
        ("thread CPU (thread_time_ns)", lambda t: t.cpu),
    ):
        ordered = pick(decisions)
        mean_us = sum(ordered) / len(ordered) / 1000
        print()
        print(f"{label:<30}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
        print(row("decide()", ordered, f"mean {mean_us:.1f}, {1e6 / mean_us:,.0f} decisions/s"))
        print(row("  features (no PII)", pick(words)))
        print(row("  PII scan", pick(pii)))
        print(row("  features + PII scan", pick(both)))
    print()
    for label, ordered in (("wall", decisions.wall), ("CPU", decisions.cpu)):
        p99 = percentile(ordered, 0.99)
        verdict = "meets" if p99 <= TARGET_P99_US else "MISSES"
        print(f"target      p99 <= {TARGET_P99_US:.0f} us ({label}): {verdict} ({p99:.1f} us)")
    print()
    for name, value in outcome_summary(work, min(iterations, 2000)).items():
        print(f"{name:<38}{value}")


def run_profile(work: Workload, sort_limit: int = 25) -> None:
    for i in range(WARMUP):
        request, state = work.request(i)
        decide(request, work.snapshot, state, now=NOW)
    requests = [work.request(WARMUP + i) for i in range(PROFILE_DECISIONS)]
    profiler = cProfile.Profile()
    gc.collect()
    gc.disable()
    try:
        profiler.enable()
        for request, state in requests:
            decide(request, work.snapshot, state, now=NOW)
        profiler.disable()
    finally:
        gc.enable()
    print(f"cProfile over {PROFILE_DECISIONS} decisions (times include profiler overhead)")
    for key in ("cumulative", "tottime"):
        print(f"\n== top {sort_limit} by {key} ==")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.strip_dirs().sort_stats(key).print_stats(sort_limit)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=5000, help="timed decisions")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic config")
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"run cProfile over {PROFILE_DECISIONS} decisions instead of timing",
    )
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error("--iterations must be at least 1")
    pinned = pin_to_one_core()
    work = build_workload(args.seed)
    print_header(work, pinned)
    if args.profile:
        run_profile(work)
    else:
        run_timing(work, args.iterations)


if __name__ == "__main__":
    main()
