"""Seed 001's metrics: a JSON event on the Redis channel `llm_router_metrics` after
every request, and per-model success / fallback / error counters.

What runs where: with REDIS_URL, the request thread only copies the attempts into a
`MetricsEvent` and hands it to controlplane.lib.background_redis; that module's thread
works out the outcomes and sends the increments, the reads of the new values and the
PUBLISH, batched with the other events of the last few milliseconds (one INCRBY per
counter per batch; each event still shows the counters as they were right after its
own increments). The response never depended on them, so the request does not wait for
them. Redis failures there go through controlplane.lib.resilient_cache (Redis is left
alone for a while after one), and never reach a request.
Without REDIS_URL the counters live in the local cache, counted on the request thread
(in-process, cheap), and no event is published.
`counters()` reads them wherever they are kept.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import cache

from controlplane.lib import background_redis
from controlplane.lib.resilient_cache import cache_call

CHANNEL = "llm_router_metrics"
COUNTER_KEY = "routing:metrics:{model}:{outcome}"  # in the Django cache (no Redis)
REDIS_COUNTER_KEY = "switchboard:metrics:{model}:{outcome}"  # plain Redis keys
OUTCOMES = ("success", "fallback", "error")
EVENT_ATTEMPT_FIELDS = ("model", "outcome", "reason", "latency_ms")  # seed 001's


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
    if not settings.REDIS_URL:
        count(attempt_outcomes(attempts, bool(model_used)))  # local counters; no channel
        return
    # The request thread only copies what the event shows (the attempt dicts are the
    # audit row's); the outcomes, keys and JSON are worked out by the sender thread.
    background_redis.submit(
        MetricsEvent(
            model_used,
            latency_ms,
            [{k: a.get(k) for k in EVENT_ATTEMPT_FIELDS} for a in attempts],
            now.timestamp(),
        )
    )


@functools.lru_cache(maxsize=4096)  # a few per registry model
def _model_keys(model: str) -> tuple[str, ...]:
    return tuple(REDIS_COUNTER_KEY.format(model=model, outcome=o) for o in OUTCOMES)


class MetricsEvent:
    """One request's counters and event, as a background_redis write: an increment per
    outcome, a read of every counter of the models it names, then its PUBLISH with
    those counters as they were right after its own increments."""

    __slots__ = ("attempts", "latency_ms", "model_used", "models", "timestamp")

    def __init__(
        self, model_used: str, latency_ms: int, attempts: list[dict[str, Any]], timestamp: float
    ) -> None:
        self.model_used = model_used  # "" when every model failed
        self.latency_ms = latency_ms
        self.attempts = attempts
        self.timestamp = timestamp
        self.models: list[str] = []

    def first(self, batch: background_redis.Batch) -> list[str]:
        outcomes = attempt_outcomes(self.attempts, bool(self.model_used))
        for model, outcome in outcomes:
            batch.incr(REDIS_COUNTER_KEY.format(model=model, outcome=outcome))
        self.models = sorted({m for m, _ in outcomes})  # the models the snapshot shows
        return [key for model in self.models for key in _model_keys(model)]

    def then(self, values: dict[str, int], pipe: Any) -> None:
        snapshot = {
            model: {o: values[key] for o, key in zip(OUTCOMES, _model_keys(model), strict=True)}
            for model in self.models
        }
        event = {
            "model_used": self.model_used or "none",
            "latency_ms": self.latency_ms,
            "attempts": self.attempts,
            "metrics": snapshot,
            "timestamp": self.timestamp,
        }
        pipe.publish(CHANNEL, orjson.dumps(event))


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
