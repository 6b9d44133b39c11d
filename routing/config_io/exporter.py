"""Write the database's configuration back in the seeds' formats.

Deterministic (fixed key order, rows ordered by their natural keys, no timestamps), so
export -> import -> export gives byte-identical files. A field at its default is left
out, as a person writing the file would.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from agents.models import Agent
from routing.choices import RuleAction, RuleScope, Tier
from routing.config_io.loader import ENVIRONMENTS_DIR
from routing.config_io.resolver import DEFAULT_TIMEOUT_S, STRATEGY_RULE_FIELDS
from routing.models import (
    Budget,
    EnvironmentProfile,
    FallbackStep,
    LLMModel,
    Provider,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    SessionTokenBudget,
    Strategy,
    TaskRoute,
)

STRATEGY_RULE_ORDER = (
    "prefer_local_models",
    "prefer_cloud_models",
    "allow_cloud_models",
    "required_model_type",
    "cloud_budget_per_day",
    "fallback_to_cloud_threshold",
    "parallel_requests",
    "cache_responses",
    "cloud_for_complex_tasks",
    "local_for_routine_tasks",
    "dynamic_routing",
)
HEADER = "# Exported by Switchboard (python manage.py export_routing_config). Safe to edit and re-import.\n"


def _num(value: Decimal | float | None) -> float | None:
    # YAML has no decimal type; float(Decimal("0.015")) prints back as 0.015.
    return None if value is None else float(value)


def _dump(path: Path, data: dict[str, Any]) -> None:
    text = yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )
    path.write_text(HEADER + text, encoding="utf-8")


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def _model_entry(model: LLMModel) -> dict[str, Any]:
    costs = _compact(
        {"input": _num(model.cost_input_per_1k), "output": _num(model.cost_output_per_1k)}
    )
    return _compact(
        {
            "provider": model.provider.name,
            "type": model.type,
            "model_id": model.model_id if model.model_id != model.key else None,
            "model_path": model.model_path,
            "endpoint": model.endpoint,
            "capabilities": list(model.capabilities),
            "cost_per_1k_tokens": costs,
            "rate_limits": _compact(
                {
                    "requests_per_minute": model.requests_per_minute,
                    "tokens_per_minute": model.tokens_per_minute,
                }
            ),
            "resource_requirements": dict(model.resource_requirements),
            "performance": _compact({"tokens_per_second": model.tokens_per_second}),
            "context_window": model.context_window,
            "timeout": model.timeout_s,
        }
    ) | ({"enabled": False} if not model.enabled else {})


def _rule_entry(rule: RoutingRule, *, named: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if named or rule.name:
        entry["name"] = rule.name
    entry["condition"] = rule.condition
    if rule.action != RuleAction.USE_MODEL or named:
        entry["action"] = rule.action
    if rule.model_id is not None:
        entry["model"] = rule.model.key
    if not rule.enabled:
        entry["enabled"] = False
    return entry


def _strategy_entry(strategy: Strategy) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    threshold = _compact(
        {"complexity": strategy.complexity_threshold, "confidence": strategy.confidence_threshold}
    )
    for rule_name in STRATEGY_RULE_ORDER:
        if rule_name == "fallback_to_cloud_threshold":
            value: Any = threshold or None
        elif rule_name == "cloud_budget_per_day":
            value = _num(strategy.cloud_budget_per_day)
        else:
            value = getattr(strategy, STRATEGY_RULE_FIELDS[rule_name])
        if value not in (None, ""):
            rules.append({rule_name: value})
    entry: dict[str, Any] = {"description": strategy.description}
    if rules:
        entry["rules"] = rules
    if strategy.weights:
        entry["weights"] = dict(strategy.weights)
    return entry


def _limits(budgets: list[Budget]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for budget in budgets:
        if budget.limit_usd is not None:
            out["daily" if budget.period == "day" else "monthly"] = _num(budget.limit_usd)
        if budget.per_request_limit_usd is not None:
            out["per_request"] = _num(budget.per_request_limit_usd)
    first = budgets[0]
    if first.warning_threshold != 0.8:
        out["warning_threshold"] = first.warning_threshold
    if not first.enabled:
        out["enabled"] = False
    order = ["daily", "monthly", "per_request", "warning_threshold", "enabled"]
    return {k: out[k] for k in order if k in out}


def _provider_entry(provider: Provider) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": provider.kind}
    if provider.base_url:
        entry["base_url"] = provider.base_url
    if provider.api_key_env:
        entry["api_key"] = "${" + provider.api_key_env + "}"
    if provider.default_model:
        entry["default_model"] = provider.default_model
    if provider.model_roles:
        entry["models"] = dict(provider.model_roles)
    else:
        ids = [m.model_id for m in sorted(provider.models.all(), key=lambda m: m.model_id)]
        if ids:
            entry["models"] = ids
    if provider.rate_limit_rpm is not None:
        entry["rate_limit"] = provider.rate_limit_rpm
    if provider.timeout_s != DEFAULT_TIMEOUT_S:
        entry["timeout"] = provider.timeout_s
    if provider.options:
        entry["options"] = dict(provider.options)
    return entry


def _llm_routing() -> dict[str, Any]:
    providers: dict[str, Any] = {}
    for tier in Tier.values:
        group = {
            p.name: _provider_entry(p)
            for p in Provider.objects.filter(tier=tier).prefetch_related("models")
        }
        if group:
            providers[tier] = group
    doc: dict[str, Any] = {"providers": providers}

    routes: dict[str, dict[str, list[str]]] = {}
    for route in TaskRoute.objects.select_related("provider", "model").order_by(
        "task_type", "band", "position"
    ):
        target = route.provider.name + (f":{route.model.model_id}" if route.model_id else "")
        routes.setdefault(route.task_type, {}).setdefault(route.band, []).append(target)
    if routes:
        doc["routing_rules"] = routes

    limits: dict[str, Any] = {}
    by_target: dict[tuple[str, str], list[Budget]] = {}
    for budget in Budget.objects.select_related("agent", "provider", "model").order_by(
        "scope", "period"
    ):
        by_target.setdefault((budget.scope, budget.target_key), []).append(budget)
    glob = by_target.pop(("global", ""), None)
    if glob:
        g = _limits(glob)
        renamed = {
            "daily": "daily_budget",
            "monthly": "monthly_budget",
            "per_request": "per_request",
        }
        limits.update({renamed[k]: v for k, v in g.items() if k in renamed})
        limits["warning_threshold"] = glob[0].warning_threshold
    for scope, section in (
        ("provider", "provider_limits"),
        ("agent", "agent_limits"),
        ("model", "model_limits"),
    ):
        entries = {key: _limits(rows) for (s, key), rows in sorted(by_target.items()) if s == scope}
        if entries:
            limits[section] = entries
    session = SessionTokenBudget.objects.filter(scope=RuleScope.GLOBAL).first()
    if session is not None:
        limits["session_tokens"] = {
            "warning": session.warning_tokens,
            "switch_to_local": session.switch_tokens,
        }
    if limits:
        doc["cost_limits"] = limits

    chain = [
        step.provider.name
        for step in FallbackStep.objects.select_related("provider").order_by("position")
    ]
    if chain:
        doc["fallback_chain"] = chain
    return doc


def _routing() -> dict[str, Any]:
    routing: dict[str, Any] = {}
    settings_row = RoutingSettings.objects.select_related("default_strategy").filter(pk=1).first()
    if settings_row and settings_row.default_strategy:
        routing["default_strategy"] = settings_row.default_strategy.key
    routing["strategies"] = {s.key: _strategy_entry(s) for s in Strategy.objects.order_by("key")}
    rules = (
        RoutingRule.objects.filter(scope=RuleScope.GLOBAL)
        .select_related("model")
        .order_by("position")
    )
    routing["global_rules"] = [_rule_entry(r, named=True) for r in rules]
    routing["routing_factors"] = [
        _compact({"name": f.name, "weight": f.weight, "calculation": f.calculation})
        for f in RoutingFactor.objects.order_by("id")
    ]
    return {"routing": routing}


def _agents() -> dict[str, Any]:
    agents: dict[str, Any] = {}
    related = ("primary_model", "fallback_model", "local_alternative", "budget_mode_model")
    queryset = (
        Agent.objects.select_related(*related).prefetch_related("rules__model").order_by("key")
    )
    for agent in queryset:
        prefs = _compact(
            {
                "primary": agent.primary_model and agent.primary_model.key,
                "fallback": agent.fallback_model and agent.fallback_model.key,
                "local_alternative": agent.local_alternative and agent.local_alternative.key,
                "budget_mode": agent.budget_mode_model and agent.budget_mode_model.key,
            }
        )
        entry: dict[str, Any] = {"name": agent.name}
        if agent.description:
            entry["description"] = agent.description
        if prefs:
            entry["model_preferences"] = prefs
        rules = sorted(agent.rules.all(), key=lambda r: r.position)
        if rules:
            entry["routing_rules"] = [_rule_entry(r, named=False) for r in rules]
        if agent.capabilities_required:
            entry["capabilities_required"] = list(agent.capabilities_required)
        if agent.default_privacy_level != "low":
            entry["default_privacy_level"] = agent.default_privacy_level
        agents[agent.key] = entry
    return {"agents": agents}


def _environment(profile: EnvironmentProfile) -> dict[str, Any]:
    overrides = {
        "max_cloud_spend_per_day": _num(profile.max_cloud_spend_per_day),
        "require_local_for_pii": profile.require_local_for_pii,
        "force_local_models": profile.force_local_models,
        "verbose_routing_logs": profile.verbose_routing_logs,
        "default_strategy": profile.default_strategy and profile.default_strategy.key,
    }
    return {"routing": {"global_overrides": {k: v for k, v in overrides.items() if v is not None}}}


def export_config(directory: str | Path) -> list[Path]:
    """Write every configuration file into `directory` (created if missing)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    models = {
        m.key: _model_entry(m) for m in LLMModel.objects.select_related("provider").order_by("key")
    }
    for name, doc in (
        ("llm_routing.yaml", _llm_routing()),
        ("models.yaml", {"models": models}),
        ("agents.yaml", _agents()),
        ("routing.yaml", _routing()),
    ):
        _dump(out / name, doc)
        written.append(out / name)
    profiles = list(EnvironmentProfile.objects.select_related("default_strategy").order_by("name"))
    if profiles:
        (out / ENVIRONMENTS_DIR).mkdir(exist_ok=True)
        for profile in profiles:
            path = out / ENVIRONMENTS_DIR / f"{profile.name}.yaml"
            _dump(path, _environment(profile))
            written.append(path)
    return written
