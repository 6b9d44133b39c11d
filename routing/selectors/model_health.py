"""Model health, for the overview's panel: each enabled model of the configuration
snapshot with what its last health probe saw (routing.services.health writes one
ModelHealth row per model) and whether routing skips it right now.

Cooldowns come from routing.snapshot.load_runtime_state, the reader routing itself uses,
so the panel and the engine never disagree about which cooldown a probe set (the probe
marker) and which a 429 or an open circuit set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.text import Truncator

from routing.engine.inputs import RuntimeState, Snapshot
from routing.models import ModelHealth
from routing.services.durations import format_duration
from routing.snapshot import current_snapshot, load_runtime_state

ERROR_PREVIEW_CHARS = 120
UP, DOWN, NEVER = "up", "down", "never probed"
REASON_PROBE = "failed health probe"
REASON_RATE_LIMIT = "429 or open circuit"


@dataclass(frozen=True, slots=True)
class ModelHealthRow:
    key: str
    local: bool
    status: str  # UP, DOWN or NEVER
    latency_ms: int | None
    checked_at: datetime | None
    checked_ago: str  # "12s ago"; "" when never probed
    consecutive_failures: int
    error: str  # raw text, truncated: the template escapes it
    error_full: str
    cooling_until: datetime | None
    cooling_left: str  # "4m30s"; "" when not cooling down
    cooling_reason: str  # REASON_PROBE or REASON_RATE_LIMIT; "" when not cooling down


def _ago(then: datetime, now: datetime) -> str:
    # format_duration says "0s" for anything under a second, and for a clock skewed ahead.
    return f"{format_duration(now - then)} ago"


def _left(until: datetime, now: datetime) -> str:
    return format_duration(timedelta(seconds=max(0, round((until - now).total_seconds()))))


def model_health_rows(
    now: datetime, *, snapshot: Snapshot | None = None, state: RuntimeState | None = None
) -> list[ModelHealthRow]:
    """One row per enabled model, local models first, then by key. One query for the
    ModelHealth rows; load_runtime_state (one query, one cache round trip) unless the
    caller already has the state."""
    snap = snapshot or current_snapshot()
    models = sorted(
        (m for m in snap.models.values() if m.enabled), key=lambda m: (not m.is_local, m.key)
    )
    if not models:
        return []
    if state is None:
        state = load_runtime_state(snapshot=snap, session_id=None, now=now)
    seen = {
        row["model__key"]: row
        for row in ModelHealth.objects.filter(model__key__in=[m.key for m in models]).values(
            "model__key", "healthy", "latency_ms", "consecutive_failures", "error", "checked_at"
        )
    }
    rows = []
    for model in models:
        probe = seen.get(model.key)
        until = state.cooling_down.get(model.key)
        cooling = until is not None and until > now
        status = NEVER if probe is None else UP if probe["healthy"] else DOWN
        error = probe["error"] if probe else ""
        rows.append(
            ModelHealthRow(
                key=model.key,
                local=model.is_local,
                status=status,
                latency_ms=probe["latency_ms"] if probe else None,
                checked_at=probe["checked_at"] if probe else None,
                checked_ago=_ago(probe["checked_at"], now) if probe else "",
                consecutive_failures=probe["consecutive_failures"] if probe else 0,
                error=Truncator(error).chars(ERROR_PREVIEW_CHARS),
                error_full=error,
                cooling_until=until if cooling else None,
                cooling_left=_left(until, now) if cooling and until else "",
                cooling_reason=(
                    ""
                    if not cooling
                    else REASON_PROBE
                    if model.key in state.unhealthy
                    else REASON_RATE_LIMIT
                ),
            )
        )
    return rows
