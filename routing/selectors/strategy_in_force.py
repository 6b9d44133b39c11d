"""The strategy in force, for the strip at the top of the overview: which strategy,
where it comes from (the default, the environment, or an override: by whom, until
when), and how many agent and task overrides are in force beside it.

Everything but the override's author comes from routing.selectors.status over the
cached configuration snapshot (no query once it is warm), so the overview and the
routing-control page never disagree. The snapshot does not keep who set an override:
that is one query, made only while a global override is in force.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.utils.dateparse import parse_datetime

from routing.engine.inputs import Snapshot
from routing.models import StrategyOverride
from routing.selectors.status import strategy_state
from routing.services.durations import format_duration
from routing.snapshot import current_snapshot

GLOBAL_OVERRIDE = "global override"


def _left(expires: datetime, now: datetime) -> str:
    # Rounded up, as static/js/countdown.js counts: "0s" only once it has ended.
    return format_duration(timedelta(seconds=max(0, math.ceil((expires - now).total_seconds()))))


def strategy_in_force(now: datetime, snapshot: Snapshot | None = None) -> dict[str, Any]:
    snap = snapshot or current_snapshot()
    state = strategy_state(now, snap)
    active = state["active"]
    overrides = state["overrides"]
    glob = next((o for o in overrides if o["agent"] is None), None)
    expires = parse_datetime(active["expires_at"]) if active["expires_at"] else None
    author = None
    if glob is not None:
        author = (
            StrategyOverride.objects.filter(pk=glob["id"])
            .values_list("author_label", flat=True)
            .first()
        )
    agent_models = [o for o in snap.agent_model_overrides if o.window.in_force(now)]
    tasks = [o for o in snap.task_overrides if o.window.in_force(now)]
    return {
        "strategy": active["strategy"],
        "source": active["source"],
        "overridden": glob is not None,
        "configured": active["configured"],
        "author": author,
        "reason": glob["reason"] if glob is not None else "",
        "expires_at": active["expires_at"],
        "expires": expires,
        "left": _left(expires, now) if expires is not None else None,
        "reverts_to": state["environment_strategy"] or state["default_strategy"],
        # An agent's strategy switched, or an agent pinned to a model.
        "agent_overrides": sum(1 for o in overrides if o["agent"]) + len(agent_models),
        "task_overrides": len(tasks),
    }
