"""The one bridge from the database into the engine.

`current_snapshot()` returns the Snapshot for the current configuration version. The
configuration is read in a fixed number of queries, once per version per process; the
version itself is re-read at most once a second (CONFIG_VERSION_TTL), so a change made
in any process reaches every other within that time. A change made in this process
is seen at once (the bump clears the memo on commit).

`load_runtime_state()` reads what changes between requests: spend in the current day
and month, the session's tokens, model cooldowns and failed health probes (shared through the cache).
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch, Q

from agents.models import Agent
from controlplane.lib.resilient_cache import cache_call
from routing.choices import RuleScope
from routing.engine.inputs import RuntimeState, Snapshot, build_snapshot
from routing.models import (
    AgentModelOverride,
    Budget,
    ConfigSnapshot,
    ControlState,
    EnvironmentProfile,
    Experiment,
    ExperimentVariant,
    FallbackStep,
    LLMModel,
    Provider,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    SessionTokenBudget,
    Strategy,
    StrategyOverride,
    TaskOverride,
    TaskRoute,
)
from routing.services.config_revision import config_revision_current

CONFIG_VERSION_TTL = 1.0  # seconds a process trusts its idea of the config version
COOLDOWN_CACHE_KEY = "routing:cooldown:{model}"
# Set by a failed health probe (routing.services.health) beside the cooldown it set:
# {"until": the cooldown's end, "before": the cooldown it replaced}.
PROBE_COOLDOWN_KEY = "routing:probe-cooldown:{model}"
# Marks the session's row in load_runtime_state's one query: never a ledger scope.
SESSION_ROW = "session-usage"

_lock = threading.Lock()
_memo: dict[str, Any] = {"version": None, "checked": 0.0, "snapshot": None}


def _f(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _window(o: Any) -> dict[str, Any]:
    return {
        "id": o.pk,
        "starts_at": _iso(o.starts_at),
        "expires_at": _iso(o.expires_at),
        "reason": o.reason,
    }


def load_config_data(version: int) -> dict[str, Any]:
    """Everything the engine needs, as plain JSON-able data. A fixed number of queries
    however large the configuration (pinned by a test)."""
    models = list(LLMModel.objects.select_related("provider").order_by("key"))
    upstream = {(m.provider.name, m.model_id): m.key for m in models}
    providers = Provider.objects.only("name", "default_model").order_by("name")
    settings_row = RoutingSettings.objects.select_related("default_strategy").filter(pk=1).first()
    control = ControlState.objects.filter(pk=1).first()
    env = EnvironmentProfile.objects.select_related("default_strategy").filter(active=True).first()
    prefs = (
        "primary_model__key",
        "fallback_model__key",
        "local_alternative__key",
        "budget_mode_model__key",
    )
    open_override = Q(ended_at__isnull=True)
    return {
        "version": version,
        "models": [
            {
                "key": m.key,
                "provider": m.provider.name,
                "provider_kind": m.provider.kind,
                "tier": m.provider.tier,
                "type": m.type,
                "capabilities": list(m.capabilities),
                "cost_input_per_1k": _f(m.cost_input_per_1k),
                "cost_output_per_1k": _f(m.cost_output_per_1k),
                "context_window": m.context_window,
                "requests_per_minute": m.requests_per_minute,
                "tokens_per_minute": m.tokens_per_minute,
                "tokens_per_second": m.tokens_per_second,
                "enabled": m.enabled,
                "model_id": m.model_id,
                "base_url": m.endpoint or m.provider.base_url,
                "api_key_env": m.provider.api_key_env,
                "timeout_s": m.timeout_s or m.provider.timeout_s,
                "options": m.provider.options,
            }
            for m in models
        ],
        "provider_default_models": {
            p.name: upstream[(p.name, p.default_model)]
            for p in providers
            if (p.name, p.default_model) in upstream
        },
        "agents": [
            {
                "key": a["key"],
                "primary": a["primary_model__key"],
                "fallback": a["fallback_model__key"],
                "local_alternative": a["local_alternative__key"],
                "budget_mode": a["budget_mode_model__key"],
                "capabilities_required": a["capabilities_required"],
                "default_privacy_level": a["default_privacy_level"],
            }
            for a in Agent.objects.values(
                "key", "capabilities_required", "default_privacy_level", *prefs
            )
        ],
        "rules": [
            {
                "scope": r["scope"],
                "agent": r["agent__key"],
                "name": r["name"],
                "position": r["position"],
                "condition": r["condition"],
                "action": r["action"],
                "model": r["model__key"],
                "enabled": r["enabled"],
            }
            for r in RoutingRule.objects.filter(enabled=True).values(
                "scope",
                "agent__key",
                "name",
                "position",
                "condition",
                "action",
                "model__key",
                "enabled",
            )
        ],
        "strategies": [
            {**s, "cloud_budget_per_day": _f(s["cloud_budget_per_day"])}
            for s in Strategy.objects.values(
                "key",
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
                "weights",
            )
        ],
        "default_strategy": settings_row.default_strategy.key
        if settings_row and settings_row.default_strategy
        else None,
        "factor_weights": dict(RoutingFactor.objects.values_list("name", "weight")) or None,
        "task_routes": [
            {"task_type": t, "band": b, "position": p, "provider": prov, "model": model}
            for t, b, p, prov, model in TaskRoute.objects.values_list(
                "task_type", "band", "position", "provider__name", "model__key"
            )
        ],
        "fallback_chain": list(
            FallbackStep.objects.order_by("position").values_list("provider__name", flat=True)
        ),
        "strategy_overrides": [
            {**_window(o), "agent": o.agent.key if o.agent else None, "strategy": o.strategy.key}
            for o in StrategyOverride.objects.filter(open_override).select_related(
                "agent", "strategy"
            )
        ],
        "agent_model_overrides": [
            {**_window(o), "agent": o.agent.key, "model": o.model.key}
            for o in AgentModelOverride.objects.filter(open_override).select_related(
                "agent", "model"
            )
        ],
        "task_overrides": [
            {**_window(o), "task_id": o.task_id, "model": o.model.key}
            for o in TaskOverride.objects.filter(open_override).select_related("model")
        ],
        "force_local": None
        if control is None
        else {
            "on": control.force_local,
            "expires_at": _iso(control.expires_at),
            "reason": control.reason,
        },
        "environment": None
        if env is None
        else {
            "name": env.name,
            "max_cloud_spend_per_day": _f(env.max_cloud_spend_per_day),
            "require_local_for_pii": env.require_local_for_pii,
            "force_local_models": env.force_local_models,
            "default_strategy": env.default_strategy.key if env.default_strategy else None,
        },
        "budgets": [
            {
                "scope": b.scope,
                "target": b.target_key,
                "period": b.period,
                "limit_usd": _f(b.limit_usd),
                "per_request_usd": _f(b.per_request_limit_usd),
                "warning_threshold": b.warning_threshold,
            }
            for b in Budget.objects.filter(enabled=True).select_related(
                "agent", "provider", "model"
            )
        ],
        **_session_budgets(),
        "experiments": [
            {
                "key": e.key,
                "agent": e.agent.key,
                "sticky_by": e.sticky_by,
                "variants": [{"model": v.model.key, "weight": v.weight} for v in e.variants.all()],
            }
            for e in Experiment.objects.filter(enabled=True)
            .select_related("agent")
            .prefetch_related(
                Prefetch("variants", ExperimentVariant.objects.select_related("model"))
            )
        ],
    }


def _session_budgets() -> dict[str, Any]:
    rows = list(SessionTokenBudget.objects.select_related("agent"))
    glob = next((r for r in rows if r.scope == RuleScope.GLOBAL), None)
    return {
        "session_budget": None
        if glob is None
        else {"warning_tokens": glob.warning_tokens, "switch_tokens": glob.switch_tokens},
        "agent_session_budgets": {
            r.agent.key: {"warning_tokens": r.warning_tokens, "switch_tokens": r.switch_tokens}
            for r in rows
            if r.scope == RuleScope.AGENT and r.agent is not None
        },
    }


def snapshot_for_version(version: int) -> Snapshot:
    """Build (and keep, for replay) the configuration of `version`."""
    data = load_config_data(version)
    ConfigSnapshot.objects.get_or_create(version=version, defaults={"data": data})
    return build_snapshot(data)


def stored_snapshot(version: int) -> Snapshot | None:
    """The configuration a stored decision was made with (replay)."""
    row = ConfigSnapshot.objects.filter(version=version).first()
    return None if row is None else build_snapshot(row.data)


def current_snapshot() -> Snapshot:
    now = time.monotonic()
    memo = _memo
    if memo["snapshot"] is not None and now - memo["checked"] < CONFIG_VERSION_TTL:
        return memo["snapshot"]
    version = config_revision_current()
    with _lock:
        if memo["snapshot"] is None or memo["version"] != version:
            memo["snapshot"] = snapshot_for_version(version)
            memo["version"] = version
        memo["checked"] = now
        return memo["snapshot"]


def forget_snapshot() -> None:
    """Make the next current_snapshot() re-check the version (after a local change)."""
    _memo["checked"] = 0.0


def clear_snapshot_cache() -> None:
    """Drop the cached snapshot entirely (tests, where each test's database starts over
    and version numbers repeat)."""
    _memo.update(version=None, checked=0.0, snapshot=None)


def _period_starts(today: date) -> tuple[date, date]:
    return today, today.replace(day=1)


def load_runtime_state(
    *, snapshot: Snapshot, session_id: str | None, now: datetime
) -> RuntimeState:
    """Spend in the current day and month for every scope, the session's tokens, and
    the models cooling down. One query and one cache round trip."""
    day, month = _period_starts(now.date())
    # Plain SQL: on the request path, where the ORM's query building costs more than
    # the queries themselves.
    # One round trip: the session's tokens ride along as a row of their own.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT scope, key, period, cost_usd FROM routing_spendledger"
            " WHERE (period = 'day' AND period_start = %s) OR (period = 'month' AND period_start = %s)"
            " UNION ALL"
            " SELECT %s, '', '', tokens FROM routing_sessionusage WHERE session_id = %s",
            [day, month, SESSION_ROW, session_id],
        )
        spend, tokens = {}, 0
        for scope, key, period, value in cursor.fetchall():
            if scope == SESSION_ROW:
                tokens = int(value)
            else:
                spend[(scope, key, period)] = float(value)
    keys = {COOLDOWN_CACHE_KEY.format(model=m): m for m in snapshot.models}
    probe_keys = {PROBE_COOLDOWN_KEY.format(model=m): m for m in snapshot.models}
    found = cache_call(cache.get_many, [*keys, *probe_keys], default={})
    cooling, raw_until = {}, {}
    for cache_key, value in found.items():
        if cache_key in keys:
            raw_until[keys[cache_key]] = value
            cooling[keys[cache_key]] = datetime.fromisoformat(value)
    # Unhealthy: the cooldown in force is the one a failed probe set (not a 429's or the
    # breaker's), so the trace can say why the model is out.
    unhealthy = frozenset(
        probe_keys[cache_key]
        for cache_key, marker in found.items()
        if cache_key in probe_keys
        and isinstance(marker, dict)
        and raw_until.get(probe_keys[cache_key]) == marker.get("until")
    )
    return RuntimeState(
        spend=spend, session_tokens=int(tokens), cooling_down=cooling, unhealthy=unhealthy
    )
