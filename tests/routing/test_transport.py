"""The HTTP plumbing under the adapters: the line decoder, error mapping, JSON, request
building, and the connection pool (responses given back, fork safety, no key in logs).

Answers the fake upstream cannot give (a body split at chosen bytes, bytes that are not
UTF-8) come from `RawServer`, a socket that sends canned bytes."""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest

from routing.providers import ChatRequest, ProviderError, Target, complete, http_pool, stream
from routing.providers import base as providers_base
from routing.providers.transport import (
    LineDecoder,
    LineStream,
    build_request,
    decode_json,
    encode_json,
    post_json,
    transport_error,
)
from tests.fake_upstream import FakeUpstream, echo_text

PROMPT = "What is the capital of France?"


def ask(text: str = PROMPT) -> ChatRequest:
    return ChatRequest(({"role": "user", "content": text},))


def error_of(call: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value


@pytest.fixture(scope="module", autouse=True)
def _hang_up_after() -> Iterator[None]:
    yield
    # The raw servers are gone: close the connections kept alive to them (the pool stays
    # usable), rather than leave them to warn as unclosed when the interpreter exits.
    http_pool().close()


def decode(*chunks: bytes) -> list[str]:
    decoder = LineDecoder()
    lines = [line for chunk in chunks for line in decoder.feed(chunk)]
    return lines + decoder.flush()


def every_split(data: bytes) -> Iterator[tuple[bytes, ...]]:
    """The data as two chunks cut at each byte, and as one chunk per byte."""
    for cut in range(len(data) + 1):
        yield data[:cut], data[cut:]
    yield tuple(data[i : i + 1] for i in range(len(data)))


# -- the line decoder --


def test_lines_end_with_lf_crlf_or_a_lone_cr() -> None:
    assert decode(b"a\nb\r\nc\rd\n") == ["a", "b", "c", "d"]
    assert decode(b"data: x\r\n\r\n") == ["data: x", ""]
    assert decode(b"\n\n") == ["", ""]


def test_the_last_line_needs_no_ending() -> None:
    assert decode(b"a\nlast") == ["a", "last"]
    assert decode(b"a\r") == ["a"]
    assert decode(b"") == []
    assert decode(b"", b"") == []


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}\n{"b": 2}\n',
        b"event: x\r\ndata: y\r\n\r\ndata: z\r\n\r\n",
        b"one\rtwo\r\rthree",
        "caf\u00e9 \u65e5\u672c \U0001f600\nna\u00efve\r\n\u2028x\n".encode(),
    ],
)
def test_a_chunk_boundary_anywhere_changes_nothing(data: bytes) -> None:
    expected = decode(data)
    for chunks in every_split(data):
        assert decode(*chunks) == expected, chunks


def test_a_crlf_split_between_chunks_is_one_ending() -> None:
    assert decode(b"a\r", b"\nb\n") == ["a", "b"]
    assert decode(b"a\r", b"", b"\n", b"b") == ["a", "b"]


def test_a_character_split_between_chunks_is_decoded_whole() -> None:
    smile = "\U0001f600".encode()  # four bytes
    assert decode(b"x" + smile[:1], smile[1:3], smile[3:] + b"\n") == ["x\U0001f600"]


def test_only_cr_and_lf_end_lines() -> None:
    # JSON strings may hold U+2028 and friends raw; str.splitlines would cut there.
    assert decode('{"t": "a\u2028b\x85c\x0bd"}\n'.encode()) == ['{"t": "a\u2028b\x85c\x0bd"}']


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    assert decode(b"ok \xff\xfe\n") == ["ok \ufffd\ufffd"]


def test_a_long_line_in_many_chunks_comes_out_whole() -> None:
    assert decode(*[b"x"] * 10_000, b"\n") == ["x" * 10_000]


# -- error mapping --


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpcore.ConnectTimeout(), "connect"),
        (httpcore.ReadTimeout(), "timeout"),
        (httpcore.WriteTimeout(), "timeout"),
        (httpcore.PoolTimeout(), "timeout"),
        (httpcore.ConnectError(), "connect"),
        (httpcore.ReadError(), "connect"),
        (httpcore.WriteError(), "connect"),
        (httpcore.RemoteProtocolError(), "connect"),
        (httpcore.LocalProtocolError(), "protocol"),
        (httpcore.UnsupportedProtocol(), "protocol"),
        (httpcore.ProxyError(), "protocol"),
    ],
)
def test_transport_errors_map_to_error_kinds(exc: Exception, kind: str) -> None:
    error = transport_error(exc)
    assert error.kind == kind
    if isinstance(exc, httpcore.ConnectTimeout):
        assert error.message == "connection timed out"
    else:
        assert type(exc).__name__ in error.message


def test_a_read_timeout_before_the_first_token_is_that_limit() -> None:
    target = Target("ollama", "http://x", "m", None, timeout=5, first_token_timeout=1)
    upstream = LineStream(target, "http://x", {}, {})
    assert upstream._error(httpcore.ReadTimeout()).kind == "first_token_timeout"
    upstream.first_token()
    assert upstream._error(httpcore.ReadTimeout()).kind == "timeout"
    assert upstream._error(httpcore.ReadError()).kind == "connect"


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "example.com/x", "http:///nohost", "http://example.com:99999/"]
)
def test_a_url_that_is_no_http_url_is_a_protocol_error(url: str) -> None:
    target = Target("openai_compatible", url, "m", None)
    assert error_of(lambda: complete(target, ask())).kind == "protocol"
    assert error_of(lambda: list(stream(target, ask()))).kind == "protocol"


def test_a_header_that_is_not_ascii_is_a_protocol_error_naming_no_value() -> None:
    target = Target("openai_compatible", "http://127.0.0.1:1", "m", "sk-\u00e9t\u00e9")
    error = error_of(lambda: complete(target, ask()))
    assert error.kind == "protocol"
    assert "sk-" not in error.message


# -- JSON --


def test_json_decodes_as_json_loads_does() -> None:
    assert decode_json(b'{"a": [1, 2.5, "\\u00e9", null, true]}') == {
        "a": [1, 2.5, "\u00e9", None, True]
    }
    assert decode_json('{"a": 1}') == {"a": 1}
    # What orjson refuses and json.loads reads.
    assert decode_json(b"\xef\xbb\xbf{}") == {}
    assert decode_json('"\\ud800"') == "\ud800"
    assert decode_json('{"a": 1}'.encode("utf-16")) == {"a": 1}


@pytest.mark.parametrize("data", [b"", b"<html>", b'{"a": 1', b'"\xff"', b"[" * 100_000])
def test_what_is_not_json_raises_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are orjson's and json's
        decode_json(data)


def test_bodies_encode_compactly_and_past_what_orjson_can() -> None:
    assert encode_json({"a": "\u00e9", "b": [1, None]}) == '{"a":"\u00e9","b":[1,null]}'.encode()
    assert encode_json({"n": 2**70}) == b'{"n":1180591620717411303424}'


# -- requests --


def header_map(request: httpcore.Request) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in request.headers}


def test_a_request_carries_host_length_and_defaults() -> None:
    request = build_request(
        b"POST",
        "http://127.0.0.1:8080/v1/chat?x=a b",
        {"Accept": "application/json"},
        content=b"{}",
        timeout={"connect": 1, "read": 2, "write": 2, "pool": 2},
    )
    headers = header_map(request)
    assert headers[b"host"] == b"127.0.0.1:8080"
    assert headers[b"content-length"] == b"2"
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"accept-encoding"] == b"identity"
    assert request.url.target == b"/v1/chat?x=a%20b"
    assert request.extensions["timeout"]["read"] == 2


def test_the_host_header_drops_a_default_port_and_brackets_ipv6() -> None:
    def host(url: str) -> bytes:
        request = build_request(b"GET", url, {}, content=None, timeout={})
        return header_map(request)[b"host"]

    assert host("https://api.example.com:443/v1") == b"api.example.com"
    assert host("http://[::1]:11434/api") == b"[::1]:11434"
    assert b"content-length" not in header_map(
        build_request(b"GET", "http://x", {}, content=None, timeout={})
    )


def test_the_callers_headers_win_over_the_defaults() -> None:
    request = build_request(
        b"POST",
        "http://x/",
        {"Content-Type": "application/vnd+json", "User-Agent": "mine", "Host": "y"},
        content=b"{}",
        timeout={},
    )
    names = [name.lower() for name, _ in request.headers]
    assert len(names) == len(set(names))
    headers = header_map(request)
    assert (headers[b"content-type"], headers[b"user-agent"], headers[b"host"]) == (
        b"application/vnd+json",
        b"mine",
        b"y",
    )


# -- answers the fake upstream cannot give --


class RawServer:
    """Answers every request with the same canned pieces, one send each (TCP_NODELAY):
    the client may read them apart or together, and must get the same either way (the
    line splitter's tests cut at every boundary; these go through the real pool)."""

    def __init__(self, *pieces: bytes, close: bool = False) -> None:
        self.pieces = pieces
        self.close = close  # hang up after answering
        self.heads: list[bytes] = []  # each request's line and headers, as received
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self._sock.close()
        self._thread.join(timeout=2)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._sock.accept()
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        # Keeps the connection alive, as a server would: the client may reuse it.
        with conn, contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    received = conn.recv(65536)
                    if not received:
                        return  # the client closed it
                    data += received
                head, _, data = data.partition(b"\r\n\r\n")
                self.heads.append(head)
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                for piece in self.pieces:
                    conn.sendall(piece)
                if self.close:
                    return


def answer(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: %b\r\nContent-Length: %d\r\n\r\n%b" % (
        content_type,
        len(body),
        body,
    )


def test_an_answer_that_is_not_utf8_is_a_protocol_error() -> None:
    with RawServer(answer(b'{"message": {"content": "\xff"}, "done": true}')) as server:
        target = Target("ollama", server.url, "m", None)
        assert error_of(lambda: complete(target, ask())).kind == "protocol"


def test_an_answer_in_json_that_orjson_refuses_still_reads() -> None:
    body = b'\xef\xbb\xbf{"message": {"content": "hi"}, "done": true, "eval_count": NaN}'
    with RawServer(answer(body)) as server:
        target = Target("ollama", server.url, "m", None)
        assert complete(target, ask()).text == "hi"


def test_an_error_answer_gives_its_message_without_the_key_and_its_retry_after() -> None:
    body = b'{"error": {"message": "Overloaded; key sk-secret is fine"}}'
    head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 12\r\nContent-Length: %d\r\n\r\n"
    with RawServer(head % len(body) + body) as server:
        target = Target("openai_compatible", server.url, "m", "sk-secret")
        for call in (complete, lambda t, r: list(stream(t, r))):
            error = error_of(lambda call=call: call(target, ask()))
            assert (error.kind, error.status, error.retry_after) == ("http_5xx", 503, 12.0)
            assert error.message == "HTTP 503: Overloaded; key [redacted] is fine"


def test_an_error_answer_without_a_body_gives_its_reason() -> None:
    with RawServer(b"HTTP/1.1 404 Not Here\r\nContent-Length: 0\r\n\r\n") as server:
        error = error_of(lambda: complete(Target("ollama", server.url, "m", None), ask()))
    assert (error.kind, error.message) == ("http_4xx", "HTTP 404: Not Here")


def test_a_stream_split_inside_lines_crlfs_and_characters_reads_whole() -> None:
    lines = [
        b'{"message": {"content": "caf\xc3\xa9 "}, "done": false}\r\n',
        b'{"message": {"content": "\xf0\x9f\x98\x80"}, "done": false}\r\n',
        b'{"message": {"content": ""}, "done": true, "done_reason": "stop"}\r\n',
    ]
    body = b"".join(lines)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    cuts = [0, 20, body.index(b"\r\n") + 1, body.index(b"\xf0") + 2, len(body) - 3, len(body)]
    pieces = [head] + [body[a:b] for a, b in itertools.pairwise(cuts)]
    with RawServer(*pieces) as server:
        target = Target("ollama", server.url, "m", None, first_token_timeout=2)
        chunks = list(stream(target, ask()))
    assert [c.text for c in chunks] == ["caf\u00e9 ", "\U0001f600", ""]
    assert chunks[-1].finish_reason == "stop"


def test_a_stream_ended_by_a_body_that_breaks_off_is_a_connect_error() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: 500\r\n\r\n"
    line = b'{"message": {"content": "a"}, "done": false}\n'
    with RawServer(head, line, close=True) as server:
        chunks = stream(Target("ollama", server.url, "m", None), ask())
        assert next(chunks).text == "a"
        assert error_of(lambda: next(chunks)).kind == "connect"


# -- the pool --


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def checked_out() -> list[Any]:
    """Connections of the pool that are neither idle nor closed: a response not given back."""
    return [c for c in http_pool().connections if not (c.is_idle() or c.is_closed())]


@pytest.mark.parametrize("kind", ["openai_compatible", "anthropic", "ollama"])
def test_every_path_gives_the_connection_back(kind: str, upstream: FakeUpstream) -> None:
    def target(model: str, **kw: Any) -> Target:
        return Target(kind, upstream.url, model, None, **kw)

    complete(target("m"), ask())
    list(stream(target("m", first_token_timeout=2), ask()))
    assert checked_out() == []
    for fault in ("status=500", "garbage", "drop", "fail_after=1"):
        with contextlib.suppress(ProviderError):
            complete(target(f"m@{fault}"), ask())
        with contextlib.suppress(ProviderError):
            list(stream(target(f"m@{fault}"), ask()))
        assert checked_out() == [], fault
    # A caller that walks away mid-stream (its client disconnected).
    chunks = stream(target("m@chunks=4,gap=0.05"), ask())
    next(chunks)
    assert len(checked_out()) == 1
    chunks.close()
    assert checked_out() == []
    with contextlib.suppress(ProviderError):
        list(stream(target("m@ttft=0.3", first_token_timeout=0.05, timeout=2), ask()))
    assert checked_out() == []


def test_a_drained_answer_reuses_its_connection(upstream: FakeUpstream) -> None:
    target = Target("openai_compatible", upstream.url, "m", None)
    complete(target, ask())
    before = {id(c) for c in http_pool().connections}
    for _ in range(3):
        assert complete(target, ask()).text == echo_text(PROMPT)
        assert "".join(c.text for c in stream(target, ask())) == echo_text(PROMPT)
    assert {id(c) for c in http_pool().connections} <= before


def test_the_key_is_not_logged_even_at_debug(
    upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    target = Target("openai_compatible", upstream.url, "m@status=401", "sk-very-secret")
    with caplog.at_level(logging.DEBUG, logger="httpcore"):
        error = error_of(lambda: complete(target, ask()))
        with contextlib.suppress(ProviderError):
            list(stream(target, ask()))
    assert error.kind == "http_4xx"
    assert caplog.records  # httpcore did log at DEBUG
    assert "sk-very-secret" not in caplog.text
    assert "sk-very-secret" not in str(error)


def test_post_json_sends_the_body_and_headers(upstream: FakeUpstream) -> None:
    upstream.reset()
    target = Target("ollama", upstream.url, "m", None)
    body = {"model": "m", "messages": [{"role": "user", "content": "h\u00e9"}], "stream": False}
    post_json(target, f"{upstream.url}/api/chat", {"X-Extra": "1"}, body)
    [seen] = upstream.requests
    assert seen.json == body
    assert seen.headers["x-extra"] == "1"
    assert seen.headers["content-type"] == "application/json"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_gets_its_own_pool(upstream: FakeUpstream) -> None:
    target = Target("openai_compatible", upstream.url, "m", None)
    complete(target, ask())
    parent = http_pool()
    pid = os.fork()
    if pid == 0:  # the child: exit at once, whatever happens
        ok = False
        signal.alarm(10)  # a child stuck on a lock inherited mid-use dies instead
        with contextlib.suppress(BaseException):
            ok = not providers_base._pools and http_pool() is not parent
            ok = ok and complete(target, ask()).text == echo_text(PROMPT)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert http_pool() is parent


# -- proxies from the environment, as httpx honoured them --

OLLAMA_ANSWER = answer(b'{"message": {"content": "hi"}, "done": true}')
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy_environment(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Sets the proxy variables (and nothing else of them) for pools made from now on."""

    def use(**variables: str) -> None:
        for name in PROXY_VARIABLES:
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(providers_base, "_proxies", None)
        monkeypatch.setattr(providers_base, "_routes", {})
        monkeypatch.setattr(providers_base, "_pools", {})

    return use


def test_calls_go_through_the_proxy_the_environment_names(proxy_environment: Any) -> None:
    with RawServer(OLLAMA_ANSWER) as proxy:
        proxy_environment(HTTP_PROXY=proxy.url)
        target = Target("ollama", "http://models.internal:11434", "m", None)
        assert complete(target, ask()).text == "hi"
    request_line = proxy.heads[0].split(b"\r\n")[0]
    assert request_line == b"POST http://models.internal:11434/api/chat HTTP/1.1"


def test_proxy_credentials_in_the_variable_are_sent_to_the_proxy(proxy_environment: Any) -> None:
    with RawServer(OLLAMA_ANSWER) as proxy:
        proxy_environment(HTTP_PROXY=proxy.url.replace("http://", "http://ops:p%40ss@"))
        complete(Target("ollama", "http://models.internal", "m", None), ask())
    expected = b"proxy-authorization: basic " + base64.b64encode(b"ops:p@ss").lower()
    assert expected in proxy.heads[0].lower()


def test_no_proxy_hosts_are_called_directly(proxy_environment: Any) -> None:
    with RawServer(OLLAMA_ANSWER) as server:
        # Nothing listens on port 9: a call through the proxy would fail to connect.
        proxy_environment(HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
        assert complete(Target("ollama", server.url, "m", None), ask()).text == "hi"
    assert server.heads[0].startswith(b"POST /api/chat HTTP/1.1")
