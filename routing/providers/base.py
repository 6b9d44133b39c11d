"""The one small interface every provider adapter sits behind.

Callers build a `Target` (where and how to call one model) and a `ChatRequest`, then call
`complete`, `stream` or `embed`; the wire format is chosen by `target.kind`. Every failure
an adapter can meet leaves as a `ProviderError` whose `kind` the router decides on.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, cast

import httpx

KINDS = ("openai_compatible", "anthropic", "ollama", "simulated")

ERROR_KINDS = frozenset(
    {"timeout", "first_token_timeout", "connect", "http_5xx", "http_429", "http_4xx", "protocol"}
)
# Worth trying again, here or on another model; the rest would fail the same way.
RETRYABLE_KINDS = frozenset({"timeout", "first_token_timeout", "connect", "http_5xx", "http_429"})

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


def _no_options() -> Mapping[str, Any]:
    return _NO_OPTIONS


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to call one model."""

    kind: str  # openai_compatible | anthropic | ollama | simulated
    base_url: str  # the model's endpoint, else its provider's base URL
    model_id: str  # the upstream model id
    # Resolved from the provider's env var by the caller. Kept out of repr so that a
    # logged or traceback-printed Target never shows it.
    api_key: str | None = field(repr=False)
    connect_timeout: float = 5.0
    timeout: float = 30.0  # a non-streamed call; between reads once a stream is flowing
    first_token_timeout: float | None = None  # streams: seconds until the first content
    options: Mapping[str, Any] = field(default_factory=_no_options)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[Mapping[str, Any], ...]  # OpenAI format: role, content str or parts
    max_tokens: int | None = None
    temperature: float | None = None
    json_mode: bool = False  # ask for JSON output where the API supports it

    def __post_init__(self) -> None:
        # A list would make the "frozen" request mutable behind the caller's back.
        if not isinstance(self.messages, tuple):
            object.__setattr__(self, "messages", tuple(self.messages))


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    finish_reason: str | None  # "stop" | "length" | "content_filter" | another raw value
    prompt_tokens: int | None  # None: the provider reported no usage
    completion_tokens: int | None
    latency_ms: int
    upstream_model: str


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One streamed piece. Content chunks carry text only; a stream ends with exactly one
    terminal chunk (text "") carrying the finish reason and the usage, if reported."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ProviderError(Exception):
    """A call that did not produce an answer. `message` never holds a key or prompt text."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown provider error kind {kind!r}")
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


# -- the shared HTTP client ---------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """The process's one pooled client: connections to a local model server are reused
    across requests and threads instead of paying a TCP handshake per call."""
    global _client
    client = _client
    if client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(
                    http1=True,
                    http2=False,
                    limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
                    # Every call passes its own timeout; this only guards a forgotten one.
                    timeout=httpx.Timeout(30.0, connect=5.0),
                    follow_redirects=False,
                )
            client = _client
    return client


def _forget_client_after_fork() -> None:
    # A forked worker (gunicorn, celery prefork) must not share its parent's sockets.
    global _client, _client_lock
    _client = None
    _client_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_client_after_fork)


# -- dispatch -----------------------------------------------------------------------------


class Adapter(Protocol):
    def complete(self, target: Target, request: ChatRequest) -> ChatResult: ...

    def stream(self, target: Target, request: ChatRequest) -> Iterator[ChatChunk]: ...

    def embed(self, target: Target, texts: Sequence[str]) -> list[list[float]]: ...


_ADAPTER_MODULES = {kind: f"routing.providers.{kind}" for kind in KINDS}


def adapter_for(kind: str) -> Adapter:
    # Imported on first use: the adapters import this module for its types.
    module = _ADAPTER_MODULES.get(kind)
    if module is None:
        raise ProviderError("protocol", f"unknown provider kind {kind!r}")
    return cast(Adapter, importlib.import_module(module))


def complete(target: Target, request: ChatRequest) -> ChatResult:
    return adapter_for(target.kind).complete(target, request)


def stream(target: Target, request: ChatRequest) -> Iterator[ChatChunk]:
    """Raises ProviderError before or during iteration; close the iterator to abandon."""
    return adapter_for(target.kind).stream(target, request)


def embed(target: Target, texts: Sequence[str]) -> list[list[float]]:
    return adapter_for(target.kind).embed(target, texts)
