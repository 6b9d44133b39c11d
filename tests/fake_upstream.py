"""A fake upstream LLM server on 127.0.0.1, for tests and benchmarks.

It speaks three wire formats over real sockets (HTTP/1.1, keep-alive):

- OpenAI-compatible: POST /v1/chat/completions (plain and SSE), GET /v1/models,
  POST /v1/embeddings;
- Anthropic: POST /v1/messages (plain and SSE);
- Ollama: POST /api/chat (plain and NDJSON), GET /api/tags, POST /api/embed.

What happens is chosen per request by the model name: `name@fault1,fault2`, e.g.
`gpt-4o@slow=0.2`, `llama3@status=500`, `qwen@status=429,retry_after=7`, `m@drop`. See
`Faults` for the list. One server can so serve many models with different faults at once.

    with FakeUpstream() as upstream:
        target = Target("openai_compatible", upstream.url, "gpt-4o@ttft=0.2", None)
        ...
        assert upstream.requests[-1].headers["authorization"] == "Bearer sk-test"

Waits run in the server's handler threads, never in the test: they simulate a slow model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_plus

REFUSAL = "I cannot help with that."
JSON_ANSWER = '{"action": "proceed", "confidence": 0.9}'
ECHO_CHARS = 60
EMBEDDING_DIMENSIONS = 8


@dataclass(frozen=True, slots=True)
class Faults:
    """What one request should suffer. Keys as written after the `@`."""

    slow: float = 0.0  # seconds before anything is sent (headers included)
    ttft: float = 0.0  # stream: seconds between the headers and the first content chunk
    gap: float = 0.0  # stream: seconds between content chunks
    status: int | None = None  # answer this HTTP status with an error body
    retry_after: str | None = None  # Retry-After header sent with `status`
    fail_after: int | None = None  # stream: send N content chunks, then drop the connection
    chunks: int | None = None  # stream: split the answer in N chunks (default: by word)
    text: str | None = None  # answer this text ("+" for spaces, %XX escapes)
    drop: bool = False  # close the connection without a response
    refuse: bool = False  # answer REFUSAL
    empty: bool = False  # answer whitespace
    invalid_json: bool = False  # answer a truncated JSON object
    schema_break: bool = False  # answer valid JSON of the wrong shape
    json: bool = False  # answer JSON_ANSWER
    fenced_json: bool = False  # answer JSON_ANSWER inside a ```json fence
    length: bool = False  # finish because of the token limit
    no_usage: bool = False  # report no token usage
    garbage: bool = False  # answer 200 with a body that is not JSON


_FIELD_TYPES = {f.name: f.type for f in fields(Faults)}


def parse_faults(spec: str, base: Faults | None = None) -> Faults:
    """`"slow=0.2,status=429,retry_after=7"` on top of `base`. Unknown keys raise
    ValueError, so a typo in a test fails loudly instead of testing nothing."""
    changes: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, has_value, raw = item.partition("=")
        kind = _FIELD_TYPES.get(key)
        if kind is None:
            raise ValueError(f"unknown fault {key!r}")
        if kind == "bool":
            if has_value:
                raise ValueError(f"fault {key!r} takes no value")
            changes[key] = True
        elif not has_value:
            raise ValueError(f"fault {key!r} needs a value")
        elif kind == "float":
            changes[key] = float(raw)
        elif kind == "int | None":
            changes[key] = int(raw)
        else:
            changes[key] = unquote_plus(raw)
    return replace(base or Faults(), **changes)


def split_model(model: str) -> tuple[str, str]:
    """`"gpt-4o@slow=1"` -> ("gpt-4o", "slow=1")."""
    name, _, spec = model.partition("@")
    return name, spec


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def echo_text(prompt: str) -> str:
    """The normal answer to a prompt."""
    return "Echo: " + prompt[:ECHO_CHARS]


def answer_text(faults: Faults, prompt: str) -> str:
    if faults.text is not None:
        return faults.text
    if faults.refuse:
        return REFUSAL
    if faults.empty:
        return "   "
    if faults.invalid_json:
        return '{"action": '
    if faults.schema_break:
        return '{"unexpected": true}'
    if faults.json:
        return JSON_ANSWER
    if faults.fenced_json:
        return f"```json\n{JSON_ANSWER}\n```"
    return echo_text(prompt)


def split_chunks(text: str, count: int | None) -> list[str]:
    """Pieces that join back to `text`: by word, or `count` near-equal slices."""
    if not text:
        return []
    if count is None:
        return re.findall(r"\s*\S+\s*|\s+", text)
    size = max(1, math.ceil(len(text) / max(1, count)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(byte / 127.5 - 1, 6) for byte in digest[:dimensions]]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    json: Any  # the decoded body, None for a GET

    @property
    def model(self) -> str | None:
        return self.json.get("model") if isinstance(self.json, dict) else None


class _Dropped(Exception):
    """The handler closed the connection on purpose."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # load tests open many connections at once
    fake: FakeUpstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout) leaves a broken pipe here: that is the point.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class FakeUpstream:
    def __init__(
        self,
        *,
        default_faults: str = "",
        fail_rate: float = 0.0,
        fail_status: int = 500,
        fail_with: tuple[str, ...] = (),
        seed: int = 0,
        models: tuple[str, ...] = ("fake-model", "llama3:latest"),
    ) -> None:
        self.default_faults = parse_faults(default_faults)
        self.fail_rate = fail_rate
        self.fail_status = fail_status
        # What a drawn failure is: one of these fault specs ("status=500", "slow=3",
        # "refuse", "drop"), on top of the request's own; none given: `fail_status`.
        for spec in fail_with:
            parse_faults(spec)  # a typo fails here, not in a handler thread
        self.fail_with = tuple(fail_with) or (f"status={fail_status}",)
        self.seed = seed
        self.models = models
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._count = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> FakeUpstream:
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers in a fault wait
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # keep-alive connections would outlive the server
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeUpstream is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    # -- what it saw --

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._count = 0

    # -- used by the handler --

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self._requests.append(request)
            self._count += 1
            return self._count

    def _drawn_failure(self, number: int) -> str | None:
        """The fault spec the n-th request fails with, or None when it does not fail."""
        if self.fail_rate <= 0:
            return None
        # Seeded by the request's number, not by a shared generator's state, so the
        # n-th request fails or not (and how) whatever the thread interleaving.
        draw = random.Random(f"{self.seed}:{number}")
        if draw.random() >= self.fail_rate:
            return None
        return draw.choice(self.fail_with)

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Dropped  # stopping: do not answer


# -- the request handler --------------------------------------------------------------------

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked streams
    disable_nagle_algorithm = True  # small stream chunks must leave at once
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.fake._lock:
            self.server.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    # -- routing --

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        try:
            body = self._read_body() if method == "POST" else None
            headers = {name.lower(): value for name, value in self.headers.items()}
            number = fake._record(RecordedRequest(method, self.path, headers, body))
            route = _ROUTES.get((method, self.path.split("?", 1)[0]))
            if route is None:
                self._send_json(404, {"error": {"message": f"no route for {method} {self.path}"}})
                return
            wire, action = route
            if method == "POST" and not isinstance(body, dict):
                self._send_error(wire, 400, "the body is not a JSON object")
                return
            model = str(body.get("model", "")) if body else ""
            name, spec = split_model(model)
            try:
                faults = parse_faults(spec, fake.default_faults)
            except ValueError as exc:
                self._send_error(wire, 400, str(exc))
                return
            failure = fake._drawn_failure(number) if method == "POST" else None
            if failure is not None:
                faults = parse_faults(failure, faults)
            fake._wait(faults.slow)
            if faults.drop:
                raise _Dropped
            if faults.status is not None:
                self._send_error(wire, faults.status, "fake upstream fault", faults.retry_after)
                return
            if faults.garbage:
                self._send_garbage()
                return
            action(self, name, body or {}, faults)
        except _Dropped:
            self.close_connection = True

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None  # answered as "not a JSON object"

    # -- writing --

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self, wire: str, status: int, message: str, retry_after: str | None = None
    ) -> None:
        if wire == "anthropic":
            kind = _ANTHROPIC_ERRORS.get(
                status, "api_error" if status >= 500 else "invalid_request_error"
            )
            payload: Any = {"type": "error", "error": {"type": kind, "message": message}}
        elif wire == "ollama":
            payload = {"error": message}
        else:
            kind = "server_error" if status >= 500 else "invalid_request_error"
            payload = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        self._send_json(status, payload, {"Retry-After": retry_after} if retry_after else None)

    def _send_garbage(self) -> None:
        data = b"<html><body>502 Bad Gateway</body></html>\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write(self, data: str) -> None:
        raw = data.encode()
        # One write per chunk: a size line sent apart would wait on Nagle and delayed ACKs.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _content(self, text: str, faults: Faults, emit: Any) -> None:
        """Write the content chunks of a stream, with its waits and its mid-stream drop."""
        self.server.fake._wait(faults.ttft)
        for index, piece in enumerate(split_chunks(text, faults.chunks)):
            if faults.fail_after is not None and index >= faults.fail_after:
                raise _Dropped
            if index:
                self.server.fake._wait(faults.gap)
            emit(piece)

    # -- OpenAI-compatible --

    def openai_chat(self, name: str, body: dict[str, Any], faults: Faults) -> None:
        prompt, prompt_tokens = _prompt(body.get("messages"), "")
        text = answer_text(faults, prompt)
        finish = "length" if faults.length else "stop"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": estimate_tokens(text),
            "total_tokens": prompt_tokens + estimate_tokens(text),
        }
        head = {
            "id": f"chatcmpl-fake-{time.monotonic_ns()}",
            "created": int(time.time()),
            "model": name,
        }
        if not body.get("stream"):
            payload = head | {
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
            }
            if not faults.no_usage:
                payload["usage"] = usage
            self._send_json(200, payload)
            return

        def event(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = head | {"object": "chat.completion.chunk", "choices": choices} | extra
            self._write(f"data: {json.dumps(chunk)}\n\n")

        def delta(piece: str) -> None:
            event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])

        self._start_stream("text/event-stream")
        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        self._content(text, faults, delta)
        event([{"index": 0, "delta": {}, "finish_reason": finish}])
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage and not faults.no_usage:
            event([], usage=usage)
        self._write("data: [DONE]\n\n")
        self._end_stream()

    def openai_models(self, name: str, body: dict[str, Any], faults: Faults) -> None:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
            for m in self.server.fake.models
        ]
        self._send_json(200, {"object": "list", "data": data})

    def openai_embeddings(self, name: str, body: dict[str, Any], faults: Faults) -> None:
        texts = _inputs(body.get("input"))
        data = [
            {"object": "embedding", "index": i, "embedding": vector(t)} for i, t in enumerate(texts)
        ]
        tokens = sum(estimate_tokens(t) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        self._send_json(200, {"object": "list", "data": data, "model": name, "usage": usage})

    # -- Anthropic --

    def anthropic_messages(self, name: str, body: dict[str, Any], faults: Faults) -> None:
        problem = _anthropic_problem(self.headers, body)
        if problem:
            self._send_error("anthropic", 400, problem)
            return
        prompt, prompt_tokens = _prompt(body.get("messages"), _text_of(body.get("system")))
        text = answer_text(faults, prompt)
        stop = "max_tokens" if faults.length else "end_turn"
        output_tokens = estimate_tokens(text)
        message: dict[str, Any] = {
            "id": f"msg_fake_{time.monotonic_ns()}",
            "type": "message",
            "role": "assistant",
            "model": name,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": output_tokens},
        }
        if faults.no_usage:
            del message["usage"]
        if not body.get("stream"):
            self._send_json(200, message)
            return

        def event(kind: str, **data: Any) -> None:
            self._write(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n")

        def delta(piece: str) -> None:
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})

        start = message | {"content": [], "stop_reason": None}
        if not faults.no_usage:
            start["usage"] = {"input_tokens": prompt_tokens, "output_tokens": 1}
        self._start_stream("text/event-stream")
        event("message_start", message=start)
        event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        event("ping")
        self._content(text, faults, delta)
        event("content_block_stop", index=0)
        usage = {} if faults.no_usage else {"usage": {"output_tokens": output_tokens}}
        event("message_delta", delta={"stop_reason": stop, "stop_sequence": None}, **usage)
        event("message_stop")
        self._end_stream()

    # -- Ollama --

    def ollama_chat(self, name: str, body: dict[str, Any], faults: Faults) -> None:
        prompt, prompt_tokens = _prompt(body.get("messages"), "")
        text = answer_text(faults, prompt)
        head = {"model": name, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        final: dict[str, Any] = head | {
            "message": {"role": "assistant", "content": text},
            "done_reason": "length" if faults.length else "stop",
            "done": True,
            "total_duration": 1_000_000,
            "load_duration": 1_000,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 1_000,
            "eval_count": estimate_tokens(text),
            "eval_duration": 1_000,
        }
        if faults.no_usage:
            del final["prompt_eval_count"], final["eval_count"]
        if not body.get("stream", True):  # Ollama streams unless told not to
            self._send_json(200, final)
            return

        def line(piece: str) -> None:
            part = head | {"message": {"role": "assistant", "content": piece}, "done": False}
            self._write(json.dumps(part) + "\n")

        self._start_stream("application/x-ndjson")
        self._content(text, faults, line)
        self._write(json.dumps(final | {"message": {"role": "assistant", "content": ""}}) + "\n")
        self._end_stream()

    def ollama_tags(self, name: str, body: dict[str, Any], faults: Faults) -> None:
        models = [
            {
                "name": m,
                "model": m,
                "modified_at": "2024-01-01T00:00:00Z",
                "size": 1_000_000,
                "digest": hashlib.sha256(m.encode()).hexdigest(),
                "details": {"format": "gguf", "family": "fake", "parameter_size": "1B"},
            }
            for m in self.server.fake.models
        ]
        self._send_json(200, {"models": models})

    def ollama_embed(self, name: str, body: dict[str, Any], faults: Faults) -> None:
        texts = _inputs(body.get("input"))
        self._send_json(
            200,
            {
                "model": name,
                "embeddings": [vector(t) for t in texts],
                "total_duration": 1_000,
                "load_duration": 1_000,
                "prompt_eval_count": sum(estimate_tokens(t) for t in texts),
            },
        )


_ROUTES: dict[tuple[str, str], tuple[str, Any]] = {
    ("POST", "/v1/chat/completions"): ("openai", _Handler.openai_chat),
    ("GET", "/v1/models"): ("openai", _Handler.openai_models),
    ("POST", "/v1/embeddings"): ("openai", _Handler.openai_embeddings),
    ("POST", "/v1/messages"): ("anthropic", _Handler.anthropic_messages),
    ("POST", "/api/chat"): ("ollama", _Handler.ollama_chat),
    ("GET", "/api/tags"): ("ollama", _Handler.ollama_tags),
    ("POST", "/api/embed"): ("ollama", _Handler.ollama_embed),
}


def _prompt(messages: Any, system: str) -> tuple[str, int]:
    """The last user message's text, and the prompt's token count."""
    messages = messages if isinstance(messages, list) else []
    texts = [system] + [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    users = [
        _text_of(m.get("content"))
        for m in messages
        if isinstance(m, dict) and m.get("role") == "user"
    ]
    return (users[-1] if users else ""), estimate_tokens("".join(texts))


def _inputs(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _anthropic_problem(headers: Any, body: dict[str, Any]) -> str | None:
    """What the real API would reject: the fake must catch adapter mistakes too."""
    if not headers.get("anthropic-version"):
        return "anthropic-version: header is required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return "messages: roles must be user or assistant; put system text in `system`"
    return None
