"""The one small interface every provider adapter sits behind.

Callers build a `Target` (where and how to call one model) and a `ChatRequest`, then call
`complete`, `stream` or `embed`; the wire format is chosen by `target.kind`. Every failure
an adapter can meet leaves as a `ProviderError` whose `kind` the router decides on.
"""

from __future__ import annotations

import importlib
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, cast

import httpcore
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


# -- the shared connection pools ---------------------------------------------------------

# One pool per route out of the process: direct, or through each proxy the environment
# names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY; NO_PROXY exempts hosts), as httpx honoured.
# Keyed by the proxy's URL, "" for direct.
_pools: dict[str, httpcore.ConnectionPool] = {}
_routes: dict[tuple[bytes, bytes], str] = {}  # (scheme, host) -> proxy URL or ""
_pool_lock = threading.Lock()
_proxies: dict[str, str] | None = None  # read from the environment once per process


def _proxy_url(scheme: bytes, host: bytes) -> str:
    """The proxy a call to `scheme://host` goes through ("" for none), by the standard
    library's reading of the proxy variables (NO_PROXY included)."""
    global _proxies
    route = _routes.get((scheme, host))
    if route is not None:
        return route
    if _proxies is None:
        _proxies = urllib.request.getproxies_environment()
    proxies = _proxies
    name, address = scheme.decode("ascii"), host.decode("ascii")
    url = proxies.get(name) or proxies.get("all") or ""
    if url and urllib.request.proxy_bypass_environment(address, proxies):
        url = ""
    if len(_routes) < 10_000:
        _routes[(scheme, host)] = url
    return url


def _proxy(url: str) -> httpcore.Proxy:
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    auth = None
    if parts.username is not None:
        auth = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return httpcore.Proxy(url=f"{parts.scheme}://{netloc}", auth=auth)


def http_pool(scheme: bytes = b"http", host: bytes = b"") -> httpcore.ConnectionPool:
    """The process's pool for calls to `scheme://host`: connections to a model server
    are reused across requests and threads instead of paying a TCP (and TLS) handshake
    per call."""
    proxy = _proxy_url(scheme, host) if host else ""
    pool = _pools.get(proxy)
    if pool is None:
        with _pool_lock:
            pool = _pools.get(proxy)
            if pool is None:
                # httpcore's pool, not an httpx.Client: httpx's client layer (its Request
                # and URL models, URL merging, cookies, auth and redirect handling, event
                # hooks) cost ~270 us of CPU per call over the ~315 us the pool itself
                # takes (587 us against 315 us per POST, measured on the fake upstream),
                # for features no provider call uses. transport.py builds the requests
                # itself. TLS trust is httpx's (certifi, or SSL_CERT_FILE/SSL_CERT_DIR).
                pool = _pools[proxy] = httpcore.ConnectionPool(
                    ssl_context=httpx.create_ssl_context(),
                    proxy=_proxy(proxy) if proxy else None,
                    max_connections=200,
                    max_keepalive_connections=100,
                    keepalive_expiry=5.0,
                    http1=True,
                    http2=False,
                )
    return pool


def _forget_pools_after_fork() -> None:
    # A forked worker (celery prefork, a web server's worker) must not share its
    # parent's sockets.
    global _pool_lock
    _pools.clear()
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_after_fork)


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
