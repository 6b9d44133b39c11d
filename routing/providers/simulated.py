"""The simulated provider: canned, deterministic answers without any network call, so a
fresh install (and the test suite) can route end to end with no model server.

Target options: "latency_ms" (time before the answer, default 0), "failure_rate" (share
of prompts that fail with a simulated 503, default 0), "dimensions" (embedding size,
default 16). The same model and messages always give the same answer or the same failure.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from routing.providers.base import ChatChunk, ChatRequest, ChatResult, ProviderError, Target
from routing.providers.transport import elapsed_ms

_SENTENCES = (
    "Here is a short, canned answer.",
    "This reply comes from the simulated provider.",
    "No model was called to write this sentence.",
    "A deterministic answer, good enough for a test.",
    "The simulated model agrees and proceeds.",
)


def _digest(target: Target, *parts: Any) -> bytes:
    payload = json.dumps([target.model_id, *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).digest()


def _unit(digest: bytes) -> float:
    """A number in [0, 1) from a digest."""
    return int.from_bytes(digest[:8], "big") / 2**64


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def estimate_tokens(text: str) -> int:
    """About four characters a token, as the real providers roughly count."""
    return max(1, math.ceil(len(text) / 4))


def _wait(target: Target, *, streaming: bool) -> None:
    """Sleep the configured latency, failing like a real call when it passes a limit."""
    latency = max(0.0, float(target.options.get("latency_ms", 0))) / 1000
    limit, kind = target.timeout, "timeout"
    if streaming and target.first_token_timeout is not None and target.first_token_timeout < limit:
        limit, kind = target.first_token_timeout, "first_token_timeout"
    if latency > limit:
        time.sleep(limit)
        raise ProviderError(kind, f"simulated latency {latency:g}s passed the {limit:g}s limit")
    if latency:
        time.sleep(latency)


def _answer(target: Target, request: ChatRequest) -> tuple[str, str, int, int]:
    """(text, finish reason, prompt tokens, completion tokens), or a simulated failure."""
    messages = [dict(message) for message in request.messages]
    # The failure draw leaves out any counter: the same prompt fails every time, so a
    # replayed decision sees the same outcome, while another model may still answer it.
    if _unit(_digest(target, "failure", messages)) < float(target.options.get("failure_rate", 0)):
        raise ProviderError("http_5xx", "simulated failure", status=503)
    sentence = _SENTENCES[_digest(target, "answer", messages)[0] % len(_SENTENCES)]
    if request.json_mode:
        text = json.dumps({"simulated": True, "answer": sentence})
    else:
        text = f"[simulated {target.model_id}] {sentence}"
    finish = "stop"
    if request.max_tokens is not None and estimate_tokens(text) > request.max_tokens:
        text, finish = text[: request.max_tokens * 4], "length"
    prompt_chars = "".join(_content_text(m.get("content")) for m in request.messages)
    return text, finish, estimate_tokens(prompt_chars), estimate_tokens(text)


def upstream_model(target: Target) -> str:
    return f"simulated/{target.model_id}"


def complete(target: Target, request: ChatRequest) -> ChatResult:
    started = time.monotonic()
    text, finish, prompt, completion = _answer(target, request)
    _wait(target, streaming=False)
    return ChatResult(
        text=text,
        finish_reason=finish,
        prompt_tokens=prompt,
        completion_tokens=completion,
        latency_ms=elapsed_ms(started),
        upstream_model=upstream_model(target),
    )


def stream(target: Target, request: ChatRequest) -> Iterator[ChatChunk]:
    text, finish, prompt, completion = _answer(target, request)
    _wait(target, streaming=True)
    words = text.split(" ")
    for index, word in enumerate(words):
        yield ChatChunk(word if index == 0 else " " + word)
    yield ChatChunk("", finish, prompt, completion)


def embed(target: Target, texts: Sequence[str]) -> list[list[float]]:
    dimensions = int(target.options.get("dimensions", 16))
    vectors = []
    for text in texts:
        raw = [_unit(_digest(target, "embed", text, i)) * 2 - 1 for i in range(dimensions)]
        norm = math.sqrt(sum(x * x for x in raw)) or 1.0
        vectors.append([x / norm for x in raw])
    return vectors
