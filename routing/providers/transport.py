"""HTTP plumbing shared by the adapters: URLs, error mapping, JSON calls, and streams
read under a time-to-first-token limit, on the process's httpcore connection pool (see
`base.http_pool` for why not an httpx.Client)."""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import math
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote, urlsplit

import httpcore
import orjson

from routing.providers.base import ProviderError, Target, http_pool

_MESSAGE_LIMIT = 200
# What httpcore raises for a call that failed; anything else is a bug and propagates.
TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)
# Sent unless the caller's headers name them. Compressed answers would cost CPU to
# inflate for no gain on a local network, and httpcore would not inflate them.
_DEFAULT_HEADERS = ((b"user-agent", b"switchboard"), (b"accept-encoding", b"identity"))
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters kept as they are when a URL's path or query is percent-encoded.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def timeouts(target: Target, *, read: float | None = None) -> dict[str, float]:
    """httpcore's per-call timeouts: connect, read (between reads), write, pool."""
    return call_timeouts(target.timeout, connect=target.connect_timeout, read=read)


def call_timeouts(timeout: float, *, connect: float, read: float | None = None) -> dict[str, float]:
    return {
        "connect": connect,
        "read": timeout if read is None else read,
        "write": timeout,
        "pool": timeout,
    }


def elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms` (OpenAI, Azure) or `Retry-After` (either
    delta-seconds or an HTTP-date); None when absent or unreadable."""
    try:
        millis = float(headers.get("retry-after-ms") or "nan")
    except ValueError:
        millis = math.nan
    if math.isfinite(millis):
        return max(0.0, millis / 1000)
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def clean_message(text: str, api_key: str | None) -> str:
    """Trim an upstream message for an error; some servers echo the key they rejected."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    text = " ".join(text.split())
    return text[:_MESSAGE_LIMIT] + ("..." if len(text) > _MESSAGE_LIMIT else "")


def _upstream_message(response: httpcore.Response) -> str:
    text = response.content.decode("utf-8", "replace")
    try:
        error = decode_json(response.content).get("error")
    except (ValueError, AttributeError):
        return text or response.extensions.get("reason_phrase", b"").decode("latin-1")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]  # OpenAI and Anthropic
    return error if isinstance(error, str) else text  # Ollama: a plain string


def response_headers(response: httpcore.Response) -> dict[str, str]:
    """Header names lowercased; of a repeated header, the last value."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers
    }


def raise_for_status(response: httpcore.Response, api_key: str | None) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    response.read()
    message = f"HTTP {status}: {clean_message(_upstream_message(response), api_key)}"
    retry_after = parse_retry_after(response_headers(response))
    if status == 429:
        raise ProviderError("http_429", message, status=status, retry_after=retry_after)
    if status >= 500:
        raise ProviderError("http_5xx", message, status=status, retry_after=retry_after)
    if status >= 400:
        raise ProviderError("http_4xx", message, status=status)
    raise ProviderError("protocol", f"unexpected HTTP {status}", status=status)


def transport_error(exc: Exception) -> ProviderError:
    # A connect timeout says the host is unreachable, like a refused connection, not
    # that the model is slow; the router treats the two differently for health.
    if isinstance(exc, httpcore.ConnectTimeout):
        return ProviderError("connect", "connection timed out")
    if isinstance(exc, httpcore.TimeoutException):
        return ProviderError("timeout", f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpcore.NetworkError | httpcore.RemoteProtocolError):
        return ProviderError("connect", f"connection failed ({type(exc).__name__})")
    return ProviderError("protocol", f"bad request or response ({type(exc).__name__})")


# -- requests -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _parse_url(url: str) -> tuple[httpcore.URL, bytes]:
    """httpcore's URL and the Host header for a URL string; parsed once per URL."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").encode("idna")
        port = parts.port
    except (ValueError, UnicodeError):
        raise ProviderError("protocol", "the upstream URL is not valid") from None
    if scheme not in _DEFAULT_PORTS or not host:
        raise ProviderError("protocol", "the upstream URL is not an http(s) URL with a host")
    target = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_URL_SAFE)
    authority = b"[" + host + b"]" if b":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority += b":%d" % port
    core_url = httpcore.URL(scheme=scheme, host=host, port=port, target=target.encode("ascii"))
    return core_url, authority


def build_request(
    method: bytes,
    url: str,
    headers: Mapping[str, str],
    *,
    content: bytes | None,
    timeout: dict[str, float],
) -> httpcore.Request:
    """An httpcore request with what an HTTP/1.1 server needs (Host, Content-Length);
    a body is JSON unless the headers say otherwise."""
    core_url, authority = _parse_url(url)
    try:
        raw = [(name.encode("ascii"), value.encode("ascii")) for name, value in headers.items()]
    except UnicodeEncodeError:
        # Never the value in the message: it may be a key.
        raise ProviderError("protocol", "a request header is not ASCII") from None
    names = {name.lower() for name, _ in raw}
    if b"host" not in names:
        raw.insert(0, (b"host", authority))
    raw.extend(default for default in _DEFAULT_HEADERS if default[0] not in names)
    if content is not None:
        if b"content-type" not in names:
            raw.append((b"content-type", b"application/json"))
        raw.append((b"content-length", b"%d" % len(content)))
    return httpcore.Request(
        method, core_url, headers=raw, content=content, extensions={"timeout": timeout}
    )


def pool_for(request: httpcore.Request) -> httpcore.ConnectionPool:
    """Direct, or through the proxy the environment names for this host."""
    return http_pool(request.url.scheme, request.url.host)


def send(
    method: bytes,
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: dict[str, float],
    content: bytes | None = None,
) -> httpcore.Response:
    """One call on the pool, its body read and its connection given back."""
    request = build_request(method, url, headers, content=content, timeout=timeout)
    try:
        response = pool_for(request).handle_request(request)
        try:
            response.read()
        finally:
            response.close()
    except TRANSPORT_ERRORS as exc:
        raise transport_error(exc) from exc
    return response


# -- JSON ---------------------------------------------------------------------------------


def encode_json(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # what orjson cannot encode (ints past 64 bits, deep nesting)
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()


def decode_json(data: bytes | str) -> Any:
    """As json.loads does, faster; raises ValueError for anything that is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    # What orjson refuses and json.loads reads (NaN, lone surrogates, UTF-16, a BOM),
    # or no JSON at all: then ValueError (UnicodeDecodeError for bytes that are no text).
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def post_json(target: Target, url: str, headers: Mapping[str, str], body: Any) -> Any:
    """POST a JSON body and return the decoded JSON answer."""
    response = send(b"POST", url, headers, timeout=timeouts(target), content=encode_json(body))
    raise_for_status(response, target.api_key)
    try:
        return decode_json(response.content)
    except ValueError:
        raise ProviderError("protocol", "upstream answered with a body that is not JSON") from None


def loads(data: str) -> Any:
    try:
        return decode_json(data)
    except ValueError:
        raise ProviderError("protocol", "upstream streamed a line that is not JSON") from None


# -- streams ------------------------------------------------------------------------------


class LineDecoder:
    """Text lines from a body arriving in byte chunks, each line without its ending: LF,
    CRLF or a lone CR (server-sent events allow all three; nothing else ends a line, not
    even U+2028, which JSON strings may hold raw). Lines are cut in bytes, then decoded:
    no byte of a UTF-8 multi-byte character is CR or LF, so a character split across
    chunks is decoded whole. Bytes that are not UTF-8 become U+FFFD, as with httpx."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # the start of a line not ended yet

    def feed(self, chunk: bytes) -> list[str]:
        if b"\n" not in chunk and b"\r" not in chunk:
            if chunk:
                self._pending.append(chunk)  # no joining per chunk: a long line stays linear
            return []
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending = []
        lines = chunk.splitlines(keepends=True)  # bytes: only CR, LF and CRLF end lines
        if not lines[-1].endswith(b"\n"):
            # Unended, or ended by a CR whose LF may come in the next chunk.
            self._pending.append(lines.pop())
        return [line.rstrip(b"\r\n").decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        """The last line, when the body did not end it."""
        rest = b"".join(self._pending)
        self._pending = []
        return [line.decode("utf-8", "replace") for line in rest.splitlines()]


class LineStream:
    """A streamed POST read line by line under the time-to-first-token limit: until the
    adapter calls `first_token()`, the wait is bounded by `first_token_timeout`, then by
    `timeout` between reads. The headers wait with that limit as their read timeout; the
    body's reads then get `timeout`, and a watchdog shuts the socket down if the body
    brings no content in time."""

    def __init__(self, target: Target, url: str, headers: Mapping[str, str], body: Any) -> None:
        self._target = target
        self._url = url
        self._headers = dict(headers)
        self._body = body
        self._lock = threading.Lock()
        self._first_seen = target.first_token_timeout is None
        self._expired = False
        self._done = False
        self._timer: threading.Timer | None = None

    def first_token(self) -> None:
        """Content (or the end of the answer) arrived: the first-token limit is met."""
        with self._lock:
            if self._expired:
                raise self._ttft_error()
            self._first_seen = True
        if self._timer is not None:
            self._timer.cancel()

    def lines(self) -> Iterator[str]:
        target = self._target
        started = time.monotonic()
        ttft = target.first_token_timeout
        read = target.timeout if ttft is None else min(ttft, target.timeout)
        request = build_request(
            b"POST",
            self._url,
            self._headers,
            content=encode_json(self._body),
            timeout=timeouts(target, read=read),
        )
        try:
            response = pool_for(request).handle_request(request)
        except TRANSPORT_ERRORS as exc:
            raise self._error(exc) from exc
        try:
            raise_for_status(response, target.api_key)
            if ttft is not None:
                # httpcore reads the request's timeouts again for every read of the body.
                request.extensions["timeout"] = timeouts(target)
                self._arm(response, ttft - (time.monotonic() - started))
            decoder = LineDecoder()
            for chunk in response.iter_stream():
                yield from decoder.feed(chunk)
            yield from decoder.flush()
            if self._expired:
                raise self._ttft_error()
        except TRANSPORT_ERRORS as exc:
            raise self._error(exc) from exc
        finally:
            with self._lock:
                self._done = True
            if self._timer is not None:
                self._timer.cancel()
            response.close()

    def _arm(self, response: httpcore.Response, remaining: float) -> None:
        if remaining <= 0:
            self._expired = True
            raise self._ttft_error()
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return  # cannot interrupt this transport; the read timeout still bounds it
        self._timer = threading.Timer(remaining, self._expire, args=(sock,))
        self._timer.daemon = True
        self._timer.start()

    def _expire(self, sock: socket.socket) -> None:
        with self._lock:
            if self._first_seen or self._done:
                return
            self._expired = True
            # Under the lock so the response cannot close (and the fd be reused) meanwhile.
            # The plain-socket shutdown also wakes a TLS read blocked in another thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _ttft_error(self) -> ProviderError:
        limit = self._target.first_token_timeout
        return ProviderError("first_token_timeout", f"no content within {limit:g}s")

    def _error(self, exc: Exception) -> ProviderError:
        limit = self._target.first_token_timeout
        if self._expired or (
            # Before any content a read timed out; it was this limit unless `timeout`
            # was the smaller one.
            not self._first_seen
            and isinstance(exc, httpcore.ReadTimeout)
            and limit is not None
            and limit <= self._target.timeout
        ):
            return self._ttft_error()
        return transport_error(exc)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Server-sent events as (event name, data); the name is "message" when unnamed."""
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        # A ":" comment (a keep-alive) has no field name and so falls through.
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value.removeprefix(" "))
        elif name == "event":
            event = value.removeprefix(" ")
    if data:
        yield event, "\n".join(data)
