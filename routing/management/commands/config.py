"""python manage.py config [--json]

Seed 004's `config` action: the routing configuration the engine uses now, read through
the same loader as the engine (routing.snapshot.load_config_data): strategies and the
default, models with type and prices, agents with their preferences and rule counts,
global rules, budgets, session token thresholds, force-local and overrides in force.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from routing.engine.inputs import DEFAULT_SESSION_BUDGET
from routing.models import Strategy
from routing.services.config_revision import config_revision_current
from routing.snapshot import load_config_data

STRATEGY_SETTINGS = (
    "prefer_local",
    "prefer_cloud",
    "allow_cloud",
    "required_model_type",
    "cloud_budget_per_day",
    "complexity_threshold",
    "confidence_threshold",
    "parallel_requests",
    "cache_responses",
    "cloud_for_complex_tasks",
    "local_for_routine_tasks",
    "dynamic_routing",
)
MODEL_FIELDS = (
    "key",
    "provider",
    "type",
    "tier",
    "cost_input_per_1k",
    "cost_output_per_1k",
    "context_window",
    "capabilities",
    "enabled",
)
PREFERENCES = ("primary", "fallback", "local_alternative", "budget_mode")


def _in_force(row: Mapping[str, Any], now: datetime) -> bool:
    starts, expires = row.get("starts_at"), row.get("expires_at")
    return (starts is None or datetime.fromisoformat(starts) <= now) and (
        expires is None or now < datetime.fromisoformat(expires)
    )


def configuration(
    data: Mapping[str, Any], descriptions: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """The configuration as people read it, from the engine's plain data."""
    force = data.get("force_local") or {}
    env = data.get("environment")
    default = data.get("default_strategy") or "balanced"
    agent_rules = Counter(r["agent"] for r in data.get("rules", []) if r["scope"] == "agent")
    session = data.get("session_budget") or {
        "warning_tokens": DEFAULT_SESSION_BUDGET.warning_tokens,
        "switch_tokens": DEFAULT_SESSION_BUDGET.switch_tokens,
    }
    return {
        "version": data.get("version", 0),
        "default_strategy": default,
        "effective_default_strategy": (env or {}).get("default_strategy") or default,
        "environment": env,
        "strategies": [
            {
                "key": s["key"],
                "description": descriptions.get(s["key"], ""),
                "default": s["key"] == default,
                "settings": {
                    k: s[k] for k in STRATEGY_SETTINGS if s.get(k) not in (None, "", False)
                },
                "weights": s.get("weights") or {},
            }
            for s in sorted(data.get("strategies", []), key=lambda s: s["key"])
        ],
        "factor_weights": data.get("factor_weights"),
        "models": [{k: m.get(k) for k in MODEL_FIELDS} for m in data.get("models", [])],
        "agents": [
            {
                "key": a["key"],
                **{k: a.get(k) for k in PREFERENCES},
                "capabilities_required": a.get("capabilities_required") or [],
                "default_privacy_level": a.get("default_privacy_level"),
                "rules": agent_rules[a["key"]],
            }
            for a in sorted(data.get("agents", []), key=lambda a: a["key"])
        ],
        "global_rules": [
            {k: r.get(k) for k in ("name", "position", "condition", "action", "model")}
            for r in sorted(data.get("rules", []), key=lambda r: r["position"])
            if r["scope"] == "global"
        ],
        "budgets": data.get("budgets", []),
        "session_budget": session,
        "agent_session_budgets": data.get("agent_session_budgets") or {},
        "force_local": bool(force.get("on"))
        and _in_force({"expires_at": force.get("expires_at")}, now),
        "overrides": {
            kind: [o for o in data.get(f"{kind}_overrides", []) if _in_force(o, now)]
            for kind in ("strategy", "agent_model", "task")
        },
        "fallback_chain": data.get("fallback_chain", []),
    }


def _price(value: float | None) -> str:
    return "?" if value is None else f"${value:g}"


def _budget_line(b: Mapping[str, Any]) -> str:
    scope = b["scope"] + (f":{b['target']}" if b.get("target") else "")
    parts = []
    if b.get("limit_usd") is not None:
        parts.append(f"limit ${b['limit_usd']:.2f}, warn at {b['warning_threshold']:.0%}")
    if b.get("per_request_usd") is not None:
        parts.append(f"at most ${b['per_request_usd']:.2f} a request")
    return f"  {scope} {b['period']}: {'; '.join(parts) or 'no limit'}"


def render(c: Mapping[str, Any]) -> list[str]:
    lines = [f"Routing configuration (version {c['version']})", ""]
    default = c["default_strategy"]
    if c["effective_default_strategy"] != default:
        default += f" (environment {c['environment']['name']}: {c['effective_default_strategy']})"
    lines.append(f"Strategies (default: {default}):")
    for s in c["strategies"]:
        mark = "*" if s["default"] else " "
        lines.append(f"{mark} {s['key']:<24}{s['description']}")
        settings = ", ".join(k if v is True else f"{k} {v}" for k, v in s["settings"].items())
        if settings:
            lines.append(f"  {'':<24}{settings}")
    lines += ["", "Models:"]
    header = f"  {'key':<40}{'provider':<12}{'type':<7}{'tier':<12}{'in/1k':>10}{'out/1k':>10}{'context':>9}  enabled"
    lines.append(header)
    for m in c["models"]:
        lines.append(
            f"  {m['key']:<40}{m['provider']:<12}{m['type']:<7}{m['tier']:<12}"
            f"{_price(m['cost_input_per_1k']):>10}{_price(m['cost_output_per_1k']):>10}"
            f"{m['context_window'] or '-':>9}  {'yes' if m['enabled'] else 'no'}"
        )
    lines += ["", "Agents:"]
    for a in c["agents"]:
        prefs = ", ".join(f"{k.replace('_', ' ')} {a[k]}" for k in PREFERENCES if a[k]) or "none"
        needs = ", ".join(a["capabilities_required"]) or "nothing"
        lines.append(
            f"  {a['key']}: {prefs}; {a['rules']} rule{'s' if a['rules'] != 1 else ''}; "
            f"privacy {a['default_privacy_level']}; needs {needs}"
        )
    lines += ["", "Global rules:"]
    lines += [
        f"  {n}. {r['name'] or '(unnamed)'}: {r['condition']} -> {r['action']}"
        + (f" {r['model']}" if r["model"] else "")
        for n, r in enumerate(c["global_rules"], 1)
    ] or ["  none"]
    lines += ["", "Budgets:"]
    lines += [_budget_line(b) for b in c["budgets"]] or ["  none"]
    s = c["session_budget"]
    lines += [
        "",
        f"Session tokens: warning at {s['warning_tokens']:,}, switch to local at {s['switch_tokens']:,}",
    ]
    for agent, t in sorted(c["agent_session_budgets"].items()):
        lines.append(
            f"  {agent}: warning at {t['warning_tokens']:,}, switch at {t['switch_tokens']:,}"
        )
    lines.append(f"Force-local: {'on' if c['force_local'] else 'off'}")
    overrides = c["overrides"]
    listed = [
        f"  strategy {o['strategy']} ({'agent ' + o['agent'] if o.get('agent') else 'global'}) until {o.get('expires_at') or 'ended'}"
        for o in overrides["strategy"]
    ]
    listed += [
        f"  agent {o['agent']} -> {o['model']} until {o.get('expires_at') or 'ended'}"
        for o in overrides["agent_model"]
    ]
    listed += [
        f"  task {o['task_id']} -> {o['model']} until {o.get('expires_at') or 'ended'}"
        for o in overrides["task"]
    ]
    lines.append("Overrides in force:" + ("" if listed else " none"))
    lines += listed
    lines.append(f"Fallback chain: {' -> '.join(c['fallback_chain']) or 'none'}")
    return lines


class Command(BaseCommand):
    help = "Show the routing configuration: strategies, models, agents, rules, budgets, session thresholds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        data = load_config_data(config_revision_current())
        descriptions = dict(Strategy.objects.values_list("key", "description"))
        shown = configuration(data, descriptions, timezone.now())
        if options["json"]:
            self.stdout.write(json.dumps(shown, indent=2))
            return
        for line in render(shown):
            self.stdout.write(line)
