"""OpenAI-compatible chat completions and embeddings (OpenAI, vLLM, llama.cpp, LM Studio,
Groq, Together, OpenRouter, ...).

Target options: "max_tokens_field" ("max_tokens", or "max_completion_tokens" for OpenAI
reasoning models), "stream_usage" (False for servers that reject `stream_options`),
"headers" (extra request headers, e.g. OpenRouter's HTTP-Referer).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit

from routing.providers.base import ChatChunk, ChatRequest, ChatResult, ProviderError, Target
from routing.providers.transport import (
    LineStream,
    clean_message,
    elapsed_ms,
    join_url,
    loads,
    post_json,
    sse_events,
)

# Values some compatible servers send for what OpenAI calls "stop" and "length".
_FINISH = {"eos": "stop", "eos_token": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def api_root(base_url: str) -> str:
    """OpenAI's convention is a base URL that already holds the version
    (".../openai/v1"); a bare host ("http://localhost:8080") gets "/v1"."""
    base = base_url.rstrip("/")
    return base if urlsplit(base).path.strip("/") else base + "/v1"


def _headers(target: Target) -> dict[str, str]:
    headers = {"Accept": "application/json", **dict(target.options.get("headers") or {})}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    return headers


def _body(target: Target, request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": target.model_id,
        "messages": [dict(message) for message in request.messages],
    }
    if request.max_tokens is not None:
        body[target.options.get("max_tokens_field", "max_tokens")] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer in content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def _finish(raw: Any) -> str | None:
    return _FINISH.get(raw, raw) if isinstance(raw, str) else None


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, Mapping):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return (
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


def _parse_chunk(
    chunk: Any, target: Target
) -> tuple[list[str], str | None, tuple[int | None, int | None] | None]:
    """One `chat.completion.chunk`: its content pieces, finish reason and usage."""
    if not isinstance(chunk, Mapping):
        raise ProviderError("protocol", "stream event is not a JSON object")
    if "error" in chunk:
        # Accepted with a 200, then failed upstream: as good as a 5xx.
        error = chunk["error"]
        message = error.get("message", "") if isinstance(error, Mapping) else str(error)
        raise ProviderError("http_5xx", clean_message(message, target.api_key))
    pieces: list[str] = []
    finish = None
    try:
        for choice in chunk.get("choices") or ():
            text = _text((choice.get("delta") or {}).get("content"))
            if text:
                pieces.append(text)
            finish = _finish(choice.get("finish_reason")) or finish
    except (AttributeError, TypeError):
        raise ProviderError("protocol", "stream chunk without choices[].delta") from None
    return pieces, finish, _usage(chunk["usage"]) if chunk.get("usage") else None


def complete(target: Target, request: ChatRequest) -> ChatResult:
    started = time.monotonic()
    url = join_url(api_root(target.base_url), "/chat/completions")
    data = post_json(target, url, _headers(target), _body(target, request))
    try:
        choice = data["choices"][0]
        text = _text(choice["message"].get("content"))
        finish = _finish(choice.get("finish_reason"))
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderError("protocol", "chat completion without choices[0].message") from None
    prompt, completion = _usage(data.get("usage"))
    return ChatResult(
        text=text,
        finish_reason=finish,
        prompt_tokens=prompt,
        completion_tokens=completion,
        latency_ms=elapsed_ms(started),
        upstream_model=str(data.get("model") or target.model_id),
    )


def stream(target: Target, request: ChatRequest) -> Iterator[ChatChunk]:
    body = _body(target, request) | {"stream": True}
    if target.options.get("stream_usage", True):
        # Without this OpenAI sends no usage at all in a stream.
        body["stream_options"] = {"include_usage": True}
    url = join_url(api_root(target.base_url), "/chat/completions")
    upstream = LineStream(target, url, _headers(target) | {"Accept": "text/event-stream"}, body)
    finish: str | None = None
    prompt = completion = None
    done = False
    with closing(upstream.lines()) as lines:
        for _event, data in sse_events(lines):
            # Read on to the end of the body after [DONE], so the connection goes back
            # to the pool instead of being closed.
            if done or data.strip() == "[DONE]":
                done = True
                continue
            pieces, chunk_finish, usage = _parse_chunk(loads(data), target)
            for text in pieces:
                upstream.first_token()
                yield ChatChunk(text)
            if chunk_finish is not None:
                upstream.first_token()
                finish = chunk_finish
            if usage is not None:
                prompt, completion = usage
    if not done and finish is None:
        raise ProviderError("protocol", "stream ended before the answer did")
    yield ChatChunk("", finish, prompt, completion)


def embed(target: Target, texts: Sequence[str]) -> list[list[float]]:
    if not texts:
        return []
    url = join_url(api_root(target.base_url), "/embeddings")
    data = post_json(
        target, url, _headers(target), {"model": target.model_id, "input": list(texts)}
    )
    try:
        rows = sorted(data["data"], key=lambda row: row.get("index", 0))
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ProviderError("protocol", "embeddings response without data[].embedding") from None
    if len(vectors) != len(texts):
        raise ProviderError("protocol", f"asked for {len(texts)} embeddings, got {len(vectors)}")
    return vectors
