"""Shared per-model health: 429 cooldowns and a circuit breaker, in the cache backend
(Redis in production) so every process respects what any process learned.

- A 429 puts the model in cooldown for its Retry-After (or the default).
- N consecutive failures open the circuit for T seconds; a success closes it.
Cooldowns are read by the snapshot loader into RuntimeState.cooling_down, so the engine
leaves the model out of the chain; the executor checks again before each call. With
the cache down, nothing cools down (requests still flow) until it is back.

What runs where: cooldown reads and writes and failure counts run on the request thread
(their results decide the chain). The reset after a success changes nothing for the
request that made it, so with Redis it is a DEL sent by controlplane.lib.background_redis
instead of a round trip on the request thread; without Redis it is a local-memory delete.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from controlplane.lib import background_redis
from controlplane.lib.resilient_cache import cache_call
from routing.snapshot import COOLDOWN_CACHE_KEY

FAILURES_KEY = "routing:failures:{model}"


def cooling_until(model: str, now: datetime) -> datetime | None:
    raw = cache_call(cache.get, COOLDOWN_CACHE_KEY.format(model=model), default=None)
    if raw is None:
        return None
    until = datetime.fromisoformat(raw)
    return until if until > now else None


def cool_down(model: str, seconds: float, now: datetime) -> datetime:
    until = now + timedelta(seconds=seconds)
    cache_call(
        cache.set,
        COOLDOWN_CACHE_KEY.format(model=model),
        until.isoformat(),
        timeout=max(1, int(seconds) + 1),
        default=None,
    )
    return until


def _increment(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def record_failure(model: str, now: datetime) -> bool:
    """Count a consecutive failure; returns True when this one opened the circuit."""
    key = FAILURES_KEY.format(model=model)
    failures = cache_call(_increment, key, settings.SWITCHBOARD_CIRCUIT_SECONDS * 10, default=0)
    if failures >= settings.SWITCHBOARD_CIRCUIT_FAILURES:
        cool_down(model, settings.SWITCHBOARD_CIRCUIT_SECONDS, now)
        cache_call(cache.delete, key, default=None)
        return True
    return False


def record_success(model: str) -> None:
    """Reset the model's consecutive failures.

    With Redis (settings point the default cache at REDIS_URL) the DEL goes to the
    background sender, on the exact key the cache wrote (its KEY_PREFIX and version
    included), which sends it within background_redis.FLUSH_SECONDS (50 ms). A reset
    that lands that late is harmless: counting consecutive failures across processes is
    already approximate (their successes and failures interleave in no agreed order).
    Only a failure of the same model within those milliseconds notices: it is counted on top of the failures before this
    success, so the circuit may open early (for one cool-down period), or the late DEL
    erases that failure and the circuit opens one failure later.
    """
    key = FAILURES_KEY.format(model=model)
    backend = caches["default"]
    if settings.REDIS_URL and isinstance(backend, RedisCache):
        background_redis.submit(background_redis.Delete(backend.make_and_validate_key(key)))
    else:
        cache_call(cache.delete, key, default=None)
