"""Cache calls that never fail a request.

In production the cache is Redis, and it holds shared but non-essential state:
cooldowns, circuit-breaker counts, metrics counters. If Redis is down a request must
still be answered, and not slowed by a timeout on every call: after one failure the
cache is left alone for RETRY_SECONDS (each process decides for itself), and callers
get their default.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

RETRY_SECONDS = 30.0
T = TypeVar("T")

_down_until = [0.0]


def cache_call(fn: Callable[..., T], *args: Any, default: T, **kwargs: Any) -> T:
    if time.monotonic() < _down_until[0]:
        return default
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # any backend failure: degrade, never fail the request
        _down_until[0] = time.monotonic() + RETRY_SECONDS
        logger.warning(
            "cache unavailable (%s); skipping it for %ss", type(exc).__name__, RETRY_SECONDS
        )
        return default


def cache_available() -> bool:
    return time.monotonic() >= _down_until[0]


def reset() -> None:
    """Forget a past failure (tests)."""
    _down_until[0] = 0.0
