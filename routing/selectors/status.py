"""What is in force right now, and how spend stands: GET /api/status, the `status`
command, and the state every control endpoint answers with.

Everything comes from the cached configuration snapshot (the same one the engine
decides from, so status never disagrees with routing) plus today's spend buckets and
the session's tokens: two queries once the snapshot is warm.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from routing.engine.inputs import (
    ModelOverrideInfo,
    RuntimeState,
    Snapshot,
    StrategyOverrideInfo,
    Window,
)
from routing.engine.result import CRITICAL, NORMAL, WARNING, worse
from routing.snapshot import current_snapshot, load_runtime_state

SESSION_MESSAGES = {
    NORMAL: "Token budget normal. Using optimal routing.",
    WARNING: "Approaching the token limit. Routine tasks go to local models.",
    CRITICAL: "Token budget exceeded. Every task goes to local models.",
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _window(window: Window, now: datetime) -> dict[str, Any]:
    remaining = None
    if window.expires_at is not None:
        remaining = max(0, int((window.expires_at - now).total_seconds()))
    return {
        "id": window.id,
        "starts_at": _iso(window.starts_at),
        "expires_at": _iso(window.expires_at),
        "remaining_seconds": remaining,
        "reason": window.reason,
    }


def _strategy_override(o: StrategyOverrideInfo, now: datetime) -> dict[str, Any]:
    return {**_window(o.window, now), "agent": o.agent, "strategy": o.strategy}


def _model_override(o: ModelOverrideInfo, now: datetime, target: str) -> dict[str, Any]:
    return {**_window(o.window, now), target: o.target, "model": o.model}


def _strategy_overrides(snapshot: Snapshot, now: datetime) -> list[StrategyOverrideInfo]:
    in_force = [o for o in snapshot.strategy_overrides if o.window.in_force(now)]
    return sorted(in_force, key=lambda o: (o.agent is not None, o.agent or ""))


def strategy_state(now: datetime, snapshot: Snapshot | None = None) -> dict[str, Any]:
    """The strategy requests without an agent-specific override get, where it comes
    from (default, environment, global override), and every strategy override in force."""
    snap = snapshot or current_snapshot()
    key, source, expires = snap.default_strategy, "default", None
    if snap.environment and snap.environment.default_strategy:
        key, source = snap.environment.default_strategy, f"environment {snap.environment.name}"
    overrides = _strategy_overrides(snap, now)
    glob = next((o for o in overrides if o.agent is None), None)
    if glob is not None:
        key, source, expires = glob.strategy, "global override", glob.window.expires_at
    return {
        "active": {
            "strategy": key,
            "source": source,
            "expires_at": _iso(expires),
            "configured": key in snap.strategies,
        },
        "default_strategy": snap.default_strategy,
        "environment_strategy": snap.environment.default_strategy if snap.environment else None,
        "overrides": [_strategy_override(o, now) for o in overrides],
    }


def agent_model_state(
    agent: str, now: datetime, snapshot: Snapshot | None = None
) -> dict[str, Any]:
    snap = snapshot or current_snapshot()
    override = next(
        (o for o in snap.agent_model_overrides if o.target == agent and o.window.in_force(now)),
        None,
    )
    return {
        "agent": agent,
        "model_override": None if override is None else _model_override(override, now, "agent"),
    }


def task_override_state(
    task_id: str, now: datetime, snapshot: Snapshot | None = None
) -> dict[str, Any]:
    snap = snapshot or current_snapshot()
    override = next(
        (o for o in snap.task_overrides if o.target == task_id and o.window.in_force(now)),
        None,
    )
    return {
        "task_id": task_id,
        "override": None if override is None else _model_override(override, now, "task_id"),
    }


def force_local_state(now: datetime, snapshot: Snapshot | None = None) -> dict[str, Any]:
    snap = snapshot or current_snapshot()
    force = snap.force_local
    on = force.in_force(now)
    env_forces = bool(snap.environment and snap.environment.force_local_models)
    return {
        "enabled": on,
        "reason": force.reason if on else "",
        "expires_at": _iso(force.expires_at) if on else None,
        "environment_forces_local": env_forces,
    }


def _level(spent: float, limit: float, threshold: float) -> str:
    # As the engine's budget step (routing.engine.budgets) judges it.
    if spent >= limit:
        return CRITICAL
    if limit > 0 and spent / limit >= threshold:
        return WARNING
    return NORMAL


def burn_rate(spent: float, limit: float, now: datetime) -> dict[str, Any]:
    """Today's spend rate (UTC day) projected to midnight, and when it reaches `limit`.
    `runs_out_at` is None unless this rate reaches the limit before the day ends."""
    midnight = datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)
    elapsed = (now - midnight).total_seconds()
    if spent >= limit:
        return {
            "usd_per_hour": round(spent * 3600 / elapsed, 6) if elapsed > 0 else None,
            "projected_day_usd": round(spent * 86400 / elapsed, 6) if elapsed > 0 else spent,
            "exhausted": True,
            "runs_out_at": None,
        }
    if elapsed <= 0 or spent <= 0:
        return {
            "usd_per_hour": 0.0,
            "projected_day_usd": round(spent, 6),
            "exhausted": False,
            "runs_out_at": None,
        }
    per_second = spent / elapsed
    runs_out = now + timedelta(seconds=(limit - spent) / per_second)
    return {
        "usd_per_hour": round(per_second * 3600, 6),
        "projected_day_usd": round(per_second * 86400, 6),
        "exhausted": False,
        "runs_out_at": _iso(runs_out) if runs_out < midnight + timedelta(days=1) else None,
    }


def _budgets(
    snapshot: Snapshot, spend: Mapping[tuple[str, str, str], float], now: datetime
) -> list[dict[str, Any]]:
    rows = []
    for budget in snapshot.budgets:
        spent = spend.get((budget.scope, budget.target, budget.period), 0.0)
        limit = budget.limit_usd
        row: dict[str, Any] = {
            "scope": budget.scope,
            "target": budget.target,
            "period": budget.period,
            "limit_usd": limit,
            "per_request_limit_usd": budget.per_request_usd,
            "spent_usd": round(spent, 6),
            "share": None,
            "warning_threshold": budget.warning_threshold,
            "warning_level": NORMAL,
            "burn_rate": None,
        }
        if limit is not None:
            row["share"] = round(spent / limit, 4) if limit > 0 else None
            row["warning_level"] = _level(spent, limit, budget.warning_threshold)
            if budget.period == "day":
                row["burn_rate"] = burn_rate(spent, limit, now)
        rows.append(row)
    return rows


def _session(snapshot: Snapshot, session_id: str, tokens: int) -> dict[str, Any]:
    budget = snapshot.session_budget
    if tokens >= budget.switch_tokens:
        level = CRITICAL
    elif tokens >= budget.warning_tokens:
        level = WARNING
    else:
        level = NORMAL
    return {
        "session_id": session_id,
        "total_tokens": tokens,
        "warning_threshold": budget.warning_tokens,
        "auto_switch_threshold": budget.switch_tokens,
        "percent_used": round(100 * tokens / budget.switch_tokens, 1),
        "warning_level": level,
        "message": SESSION_MESSAGES[level],
    }


def status(
    now: datetime, session_id: str | None = None, *, state: RuntimeState | None = None
) -> dict[str, Any]:
    """Seed 004's status, for the whole control plane. `state`: the runtime state when
    the caller has already read it (for the same session), to read it once a page."""
    snapshot = current_snapshot()
    if state is None:
        state = load_runtime_state(snapshot=snapshot, session_id=session_id, now=now)
    budgets = _budgets(snapshot, state.spend, now)
    session = None if not session_id else _session(snapshot, session_id, state.session_tokens)
    level = NORMAL
    for item in [*budgets, *([session] if session else [])]:
        level = worse(level, item["warning_level"])
    return {
        "now": now.isoformat(),
        "config_version": snapshot.version,
        "strategy": strategy_state(now, snapshot),
        "overrides": {
            "strategy": [_strategy_override(o, now) for o in _strategy_overrides(snapshot, now)],
            "agent_model": [
                _model_override(o, now, "agent")
                for o in sorted(snapshot.agent_model_overrides, key=lambda o: o.target)
                if o.window.in_force(now)
            ],
            "task": [
                _model_override(o, now, "task_id")
                for o in sorted(snapshot.task_overrides, key=lambda o: o.target)
                if o.window.in_force(now)
            ],
        },
        "force_local": force_local_state(now, snapshot),
        "environment": snapshot.environment.name if snapshot.environment else None,
        "warning_level": level,
        "budgets": budgets,
        "cooling_down": {
            k: v.isoformat() for k, v in sorted(state.cooling_down.items()) if v > now
        },
        "session": session,
    }
