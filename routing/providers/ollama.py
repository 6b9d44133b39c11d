"""Ollama's native API: /api/chat (NDJSON when streamed) and /api/embed.

Target options: "keep_alive" (how long Ollama keeps the model loaded, e.g. "10m"),
"model_options" (extra Ollama `options`, e.g. {"num_ctx": 8192}), "headers".
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from typing import Any

from routing.providers.base import ChatChunk, ChatRequest, ChatResult, ProviderError, Target
from routing.providers.transport import (
    LineStream,
    clean_message,
    elapsed_ms,
    join_url,
    loads,
    post_json,
)

_DONE = {"stop": "stop", "length": "length"}


def _url(target: Target, path: str) -> str:
    return join_url(target.base_url.rstrip("/").removesuffix("/api"), path)


def _headers(target: Target) -> dict[str, str]:
    headers = {"Accept": "application/json", **dict(target.options.get("headers") or {})}
    if target.api_key:  # Ollama itself has no keys; a proxy in front of it may
        headers["Authorization"] = f"Bearer {target.api_key}"
    return headers


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    """Ollama wants content as a string and images as a separate base64 list."""
    content = message.get("content")
    out: dict[str, Any] = {"role": message.get("role", "user")}
    if not isinstance(content, list):
        out["content"] = content if isinstance(content, str) else ""
        return out
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = str(image.get("url", "")) if isinstance(image, Mapping) else str(image or "")
            if url.startswith("data:") and ";base64," in url:
                images.append(url.partition(";base64,")[2])
    out["content"] = "".join(texts)
    if images:
        out["images"] = images
    return out


def _body(target: Target, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    options: dict[str, Any] = dict(target.options.get("model_options") or {})
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    body: dict[str, Any] = {
        "model": target.model_id,
        "messages": [_message(message) for message in request.messages],
        "stream": stream,  # Ollama streams unless told otherwise
    }
    if options:
        body["options"] = options
    if request.json_mode:
        body["format"] = "json"
    if "keep_alive" in target.options:
        body["keep_alive"] = target.options["keep_alive"]
    return body


def _count(value: Any) -> int | None:
    # Ollama leaves prompt_eval_count out when the whole prompt came from its cache.
    return value if isinstance(value, int) else None


def _done_reason(raw: Any) -> str | None:
    return _DONE.get(raw, raw) if isinstance(raw, str) and raw else None


def _raise_if_error(data: Mapping[str, Any], target: Target) -> None:
    if "error" in data:
        raise ProviderError("http_5xx", clean_message(str(data["error"]), target.api_key))


def complete(target: Target, request: ChatRequest) -> ChatResult:
    started = time.monotonic()
    body = _body(target, request, stream=False)
    data = post_json(target, _url(target, "/api/chat"), _headers(target), body)
    if not isinstance(data, Mapping):
        raise ProviderError("protocol", "chat response is not a JSON object")
    _raise_if_error(data, target)
    message = data.get("message")
    if not isinstance(message, Mapping):
        raise ProviderError("protocol", "chat response without a message")
    return ChatResult(
        text=str(message.get("content") or ""),
        finish_reason=_done_reason(data.get("done_reason")),
        prompt_tokens=_count(data.get("prompt_eval_count")),
        completion_tokens=_count(data.get("eval_count")),
        latency_ms=elapsed_ms(started),
        upstream_model=str(data.get("model") or target.model_id),
    )


def stream(target: Target, request: ChatRequest) -> Iterator[ChatChunk]:
    body = _body(target, request, stream=True)
    upstream = LineStream(target, _url(target, "/api/chat"), _headers(target), body)
    final: Mapping[str, Any] | None = None
    with closing(upstream.lines()) as lines:
        for line in lines:
            if final is not None or not line.strip():
                continue  # after done: read to the end so the connection can be reused
            data = loads(line)
            if not isinstance(data, Mapping):
                raise ProviderError("protocol", "stream line is not a JSON object")
            _raise_if_error(data, target)
            message = data.get("message")
            text = message.get("content", "") if isinstance(message, Mapping) else ""
            if text:
                upstream.first_token()
                yield ChatChunk(str(text))
            if data.get("done"):
                upstream.first_token()
                final = data
    if final is None:
        raise ProviderError("protocol", "stream ended before done")
    yield ChatChunk(
        "",
        _done_reason(final.get("done_reason")),
        _count(final.get("prompt_eval_count")),
        _count(final.get("eval_count")),
    )


def embed(target: Target, texts: Sequence[str]) -> list[list[float]]:
    if not texts:
        return []
    body = {"model": target.model_id, "input": list(texts)}
    data = post_json(target, _url(target, "/api/embed"), _headers(target), body)
    try:
        vectors = [[float(x) for x in row] for row in data["embeddings"]]
    except (KeyError, TypeError, ValueError):
        raise ProviderError("protocol", "embed response without embeddings") from None
    if len(vectors) != len(texts):
        raise ProviderError("protocol", f"asked for {len(texts)} embeddings, got {len(vectors)}")
    return vectors
