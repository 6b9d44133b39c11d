"""Seed 001's metrics: a JSON event on the Redis channel `llm_router_metrics` after
every request, and per-model success / fallback / error counters.

Never fails a request and never slows it by more than a short bound: Redis calls have
a 50 ms timeout, and after a failure Redis is left alone for a while (a local circuit
breaker), so an outage costs one timeout per REDIS_RETRY_SECONDS, not one per request.
Without REDIS_URL the counters live in the local cache and no event is published.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

CHANNEL = "llm_router_metrics"
COUNTER_KEY = "routing:metrics:{model}:{outcome}"
OUTCOMES = ("success", "fallback", "error")
REDIS_TIMEOUT = 0.05
REDIS_RETRY_SECONDS = 30.0

_state: dict[str, Any] = {"client": None, "down_until": 0.0}
_lock = threading.Lock()


def _redis() -> Any:
    if not settings.REDIS_URL or time.monotonic() < _state["down_until"]:
        return None
    if _state["client"] is None:
        with _lock:
            if _state["client"] is None:
                import redis

                _state["client"] = redis.Redis.from_url(
                    settings.REDIS_URL,
                    socket_timeout=REDIS_TIMEOUT,
                    socket_connect_timeout=REDIS_TIMEOUT,
                )
    return _state["client"]


def _redis_failed(exc: Exception) -> None:
    _state["down_until"] = time.monotonic() + REDIS_RETRY_SECONDS
    logger.warning(
        "metrics: Redis unavailable (%s); retrying in %ss", type(exc).__name__, REDIS_RETRY_SECONDS
    )


def count(outcomes: Iterable[tuple[str, str]]) -> None:
    """Increment (model, outcome) counters. outcome: success | fallback | error."""
    for model, outcome in outcomes:
        key = COUNTER_KEY.format(model=model, outcome=outcome)
        try:
            if cache.add(key, 1, timeout=None):
                continue
            cache.incr(key)
        except Exception as exc:  # the cache is Redis in production: never fail a request
            _redis_failed(exc)
            return


def snapshot(models: Iterable[str]) -> dict[str, dict[str, int]]:
    keys = {COUNTER_KEY.format(model=m, outcome=o): (m, o) for m in models for o in OUTCOMES}
    try:
        found = cache.get_many(list(keys))
    except Exception as exc:
        _redis_failed(exc)
        return {}
    out: dict[str, dict[str, int]] = {}
    for key, value in found.items():
        model, outcome = keys[key]
        out.setdefault(model, dict.fromkeys(OUTCOMES, 0))[outcome] = int(value)
    return out


def attempt_outcomes(attempts: list[dict[str, Any]], succeeded: bool) -> list[tuple[str, str]]:
    """Seed 001: a rejected model is a "fallback" when a later one answered, else "error"."""
    out = []
    for attempt in attempts:
        if attempt["outcome"] == "success" and not (attempt.get("reason") or "").startswith(
            "verification"
        ):
            out.append((attempt["model"], "success"))
        elif attempt["outcome"] != "success":
            out.append((attempt["model"], "fallback" if succeeded else "error"))
    return out


def publish(
    *, model_used: str, latency_ms: int, attempts: list[dict[str, Any]], now: datetime
) -> None:
    outcomes = attempt_outcomes(attempts, bool(model_used))
    count(outcomes)
    client = _redis()
    if client is None:
        return
    event = {
        "model_used": model_used or "none",
        "latency_ms": latency_ms,
        "attempts": [
            {k: a.get(k) for k in ("model", "outcome", "reason", "latency_ms")} for a in attempts
        ],
        "metrics": snapshot({m for m, _ in outcomes}),
        "timestamp": now.timestamp(),
    }
    try:
        client.publish(CHANNEL, json.dumps(event))
    except Exception as exc:
        _redis_failed(exc)
