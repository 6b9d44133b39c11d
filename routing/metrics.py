"""Seed 001's metrics: a JSON event on the Redis channel `llm_router_metrics` after
every request, and per-model success / fallback / error counters.

What runs where: with REDIS_URL, the request thread only works out the outcomes and
hands a `MetricsEvent` to controlplane.lib.background_redis; that module's thread sends
the INCRs, the MGET of the new values and the PUBLISH, batched with the other requests'
events. The response never depended on them, so the request no longer waits for the two
round trips. Redis failures there go through controlplane.lib.resilient_cache (Redis is
left alone for a while after one), and never reach a request.
Without REDIS_URL the counters live in the local cache, counted on the request thread
(in-process, cheap), and no event is published.
`counters()` reads them wherever they are kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.cache import cache

from controlplane.lib import background_redis
from controlplane.lib.resilient_cache import cache_call

CHANNEL = "llm_router_metrics"
COUNTER_KEY = "routing:metrics:{model}:{outcome}"  # in the Django cache (no Redis)
REDIS_COUNTER_KEY = "switchboard:metrics:{model}:{outcome}"  # plain Redis keys
OUTCOMES = ("success", "fallback", "error")


def _count(outcomes: list[tuple[str, str]]) -> None:
    for model, outcome in outcomes:
        key = COUNTER_KEY.format(model=model, outcome=outcome)
        if not cache.add(key, 1, timeout=None):
            cache.incr(key)


def count(outcomes: Iterable[tuple[str, str]]) -> None:
    """Increment (model, outcome) counters. outcome: success | fallback | error."""
    cache_call(_count, list(outcomes), default=None)


def snapshot(models: Iterable[str]) -> dict[str, dict[str, int]]:
    keys = {COUNTER_KEY.format(model=m, outcome=o): (m, o) for m in models for o in OUTCOMES}
    found = cache_call(cache.get_many, list(keys), default={})
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
    if not settings.REDIS_URL:
        count(outcomes)  # local counters only; nothing to publish to
        return
    background_redis.submit(
        MetricsEvent(
            outcomes=tuple(outcomes),
            model_used=model_used or "none",
            latency_ms=latency_ms,
            attempts=tuple(
                {k: a.get(k) for k in ("model", "outcome", "reason", "latency_ms")}
                for a in attempts
            ),
            timestamp=now.timestamp(),
        )
    )


@dataclass(frozen=True)
class MetricsEvent:
    """One request's counters and event, as a background_redis write: its INCRs and the
    MGET of the counters it touched in the batch's first pipeline (in that order, so the
    snapshot is the counters right after its own increments), its PUBLISH in the second."""

    outcomes: tuple[tuple[str, str], ...]
    model_used: str
    latency_ms: int
    attempts: tuple[dict[str, Any], ...]
    timestamp: float

    @cached_property
    def _names(self) -> dict[str, tuple[str, str]]:
        models = sorted({m for m, _ in self.outcomes})
        return {
            REDIS_COUNTER_KEY.format(model=m, outcome=o): (m, o) for m in models for o in OUTCOMES
        }

    def first(self, pipe: Any) -> None:
        for model, outcome in self.outcomes:
            pipe.incr(REDIS_COUNTER_KEY.format(model=model, outcome=outcome))
        if self._names:
            pipe.mget(list(self._names))

    def then(self, results: list[Any], pipe: Any) -> None:
        values = results[-1] if self._names else []
        snapshot: dict[str, dict[str, int]] = {}
        for key, value in zip(self._names, values, strict=True):
            model, outcome = self._names[key]
            snapshot.setdefault(model, dict.fromkeys(OUTCOMES, 0))[outcome] = int(value or 0)
        event = {
            "model_used": self.model_used,
            "latency_ms": self.latency_ms,
            "attempts": list(self.attempts),
            "metrics": snapshot,
            "timestamp": self.timestamp,
        }
        pipe.publish(CHANNEL, json.dumps(event))


def counters(models: Iterable[str]) -> dict[str, dict[str, int]]:
    """Current per-model counters, wherever they are kept."""
    client = background_redis.client()  # one Redis client per process for these keys
    if client is None:
        return snapshot(models)
    names = {REDIS_COUNTER_KEY.format(model=m, outcome=o): (m, o) for m in models for o in OUTCOMES}
    keys = list(names)
    values = cache_call(client.mget, keys, default=[None] * len(keys)) if keys else []
    out: dict[str, dict[str, int]] = {}
    for key, value in zip(keys, values, strict=True):
        if value is not None:
            model, outcome = names[key]
            out.setdefault(model, dict.fromkeys(OUTCOMES, 0))[outcome] = int(value)
    return out
