"""Provider adapters: one module per wire format, all behind `complete`, `stream` and
`embed` on a `Target`. See `base` for the contract."""

from __future__ import annotations

from routing.providers.base import (
    ERROR_KINDS,
    KINDS,
    RETRYABLE_KINDS,
    ChatChunk,
    ChatRequest,
    ChatResult,
    ProviderError,
    Target,
    complete,
    embed,
    http_pool,
    stream,
)

__all__ = [
    "ERROR_KINDS",
    "KINDS",
    "RETRYABLE_KINDS",
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ProviderError",
    "Target",
    "complete",
    "embed",
    "http_pool",
    "stream",
]
