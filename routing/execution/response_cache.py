"""The response cache (performance_optimized's `cache_responses`).

An exact match on the model, the messages and the parameters that change an answer,
kept for SWITCHBOARD_RESPONSE_CACHE_SECONDS in the cache backend, so every process
shares it (Redis in production). Lookups only consider the models of the request's own
chain, which the engine has already filtered for privacy and budgets: a local-only
request can never be served a cloud model's cached answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache

from controlplane.lib.resilient_cache import cache_call

KEY = "routing:response:{model}:{digest}"


def _digest(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"messages": list(messages), "params": dict(params)}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(
    models: Sequence[str], messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    """The first model of the chain with a cached answer, and that answer."""
    digest = _digest(messages, params)
    keys = {KEY.format(model=m, digest=digest): m for m in models}
    found = cache_call(cache.get_many, list(keys), default={})
    for key, model in keys.items():
        if key in found:
            return model, found[key]
    return None


def store(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    entry: dict[str, Any],
) -> None:
    key = KEY.format(model=model, digest=_digest(messages, params))
    cache_call(
        cache.set, key, entry, timeout=settings.SWITCHBOARD_RESPONSE_CACHE_SECONDS, default=None
    )
