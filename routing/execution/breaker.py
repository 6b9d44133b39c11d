"""Shared per-model health: 429 cooldowns and a circuit breaker, in the cache backend
(Redis in production) so every process respects what any process learned.

- A 429 puts the model in cooldown for its Retry-After (or the default).
- N consecutive failures open the circuit for T seconds; a success closes it.
Cooldowns are read by the snapshot loader into RuntimeState.cooling_down, so the engine
leaves the model out of the chain; the executor checks again before each call.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache

from routing.snapshot import COOLDOWN_CACHE_KEY

FAILURES_KEY = "routing:failures:{model}"


def cooling_until(model: str, now: datetime) -> datetime | None:
    raw = cache.get(COOLDOWN_CACHE_KEY.format(model=model))
    if raw is None:
        return None
    until = datetime.fromisoformat(raw)
    return until if until > now else None


def cool_down(model: str, seconds: float, now: datetime) -> datetime:
    until = now + timedelta(seconds=seconds)
    cache.set(
        COOLDOWN_CACHE_KEY.format(model=model), until.isoformat(), timeout=max(1, int(seconds) + 1)
    )
    return until


def record_failure(model: str, now: datetime) -> bool:
    """Count a failure; returns True when this one opened the circuit."""
    key = FAILURES_KEY.format(model=model)
    window = settings.SWITCHBOARD_CIRCUIT_SECONDS * 10
    cache.add(key, 0, timeout=window)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        failures = 1
    if failures >= settings.SWITCHBOARD_CIRCUIT_FAILURES:
        cool_down(model, settings.SWITCHBOARD_CIRCUIT_SECONDS, now)
        cache.delete(key)
        return True
    return False


def record_success(model: str) -> None:
    cache.delete(FAILURES_KEY.format(model=model))
