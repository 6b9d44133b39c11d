"""HTTP plumbing shared by the adapters: URLs, error mapping, JSON calls, and streams
read under a time-to-first-token limit."""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import Any

import httpx

from routing.providers.base import ProviderError, Target, http_client

_MESSAGE_LIMIT = 200


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def timeouts(target: Target, *, read: float | None = None) -> httpx.Timeout:
    read = target.timeout if read is None else read
    return httpx.Timeout(target.timeout, connect=target.connect_timeout, read=read)


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


def _upstream_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return response.text or response.reason_phrase
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]  # OpenAI and Anthropic
    return error if isinstance(error, str) else response.text  # Ollama: a plain string


def raise_for_status(response: httpx.Response, api_key: str | None) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    response.read()
    message = f"HTTP {status}: {clean_message(_upstream_message(response), api_key)}"
    retry_after = parse_retry_after(response.headers)
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
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderError("connect", "connection timed out")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError("timeout", f"upstream timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return ProviderError("connect", f"connection failed ({type(exc).__name__})")
    return ProviderError("protocol", f"bad request or response ({type(exc).__name__})")


def post_json(target: Target, url: str, headers: Mapping[str, str], body: Any) -> Any:
    """POST a JSON body and return the decoded JSON answer."""
    try:
        response = http_client().post(
            url, json=body, headers=dict(headers), timeout=timeouts(target)
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise transport_error(exc) from exc
    raise_for_status(response, target.api_key)
    try:
        return response.json()
    except ValueError:
        raise ProviderError("protocol", "upstream answered with a body that is not JSON") from None


def loads(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ProviderError("protocol", "upstream streamed a line that is not JSON") from None


class LineStream:
    """A streamed POST read line by line under the time-to-first-token limit: until the
    adapter calls `first_token()`, the wait is bounded by `first_token_timeout`, then by
    `timeout` between reads. httpx fixes a body's read timeout when the body starts, so
    the headers wait with that limit as their read timeout, and a watchdog shuts the
    socket down if the body then brings no content in time."""

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
        client = http_client()
        read = target.timeout if ttft is None else min(ttft, target.timeout)
        try:
            request = client.build_request(
                "POST",
                self._url,
                json=self._body,
                headers=self._headers,
                timeout=timeouts(target, read=read),
            )
            response = client.send(request, stream=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._error(exc) from exc
        try:
            raise_for_status(response, target.api_key)
            if ttft is not None:
                # httpcore reads the request's timeouts again when the body starts.
                request.extensions["timeout"] = timeouts(target).as_dict()
                self._arm(response, ttft - (time.monotonic() - started))
            yield from response.iter_lines()
            if self._expired:
                raise self._ttft_error()
        except httpx.HTTPError as exc:
            raise self._error(exc) from exc
        finally:
            with self._lock:
                self._done = True
            if self._timer is not None:
                self._timer.cancel()
            response.close()

    def _arm(self, response: httpx.Response, remaining: float) -> None:
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
            and isinstance(exc, httpx.ReadTimeout)
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
