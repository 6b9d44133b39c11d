"""The Anthropic Messages API.

Target options: "version" (the `anthropic-version` header, default 2023-06-01),
"default_max_tokens" (Anthropic requires max_tokens; default 1024), "headers".
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
    sse_events,
)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
# Anthropic has no JSON response mode; an instruction is the portable way to ask.
JSON_INSTRUCTION = "Respond with a single JSON object and nothing else."

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}
# Error types sent inside a 200 stream; the request was accepted, so they count as
# upstream failures, except rate limiting, which keeps its own kind.
_STREAM_ERROR_KIND = {"rate_limit_error": "http_429"}


def _url(target: Target) -> str:
    # Anthropic's SDK convention: the base URL stops before the version.
    return join_url(target.base_url.rstrip("/").removesuffix("/v1"), "/v1/messages")


def _headers(target: Target) -> dict[str, str]:
    headers = {
        "Accept": "application/json",
        "anthropic-version": str(target.options.get("version", API_VERSION)),
        **dict(target.options.get("headers") or {}),
    }
    if target.api_key:
        headers["x-api-key"] = target.api_key
    return headers


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(p.get("text", "") for p in parts if isinstance(p, Mapping))


def _part(part: Any) -> dict[str, Any] | None:
    """An OpenAI content part as an Anthropic content block (text and images only)."""
    if not isinstance(part, Mapping):
        return None
    if part.get("type") == "text":
        return {"type": "text", "text": str(part.get("text", ""))}
    if part.get("type") == "image_url":
        image = part.get("image_url")
        url = str(image.get("url", "")) if isinstance(image, Mapping) else str(image or "")
        if url.startswith("data:") and ";base64," in url:
            media_type, _, data = url[5:].partition(";base64,")
            return {
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            }
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None


def _body(target: Target, request: ChatRequest) -> dict[str, Any]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            # Anthropic rejects a system role inside `messages`.
            system.append(_text_of(content))
            continue
        if isinstance(content, list):
            blocks = [block for block in map(_part, content) if block is not None]
            content = blocks
        messages.append(
            {"role": "assistant" if role == "assistant" else "user", "content": content or ""}
        )
    if request.json_mode:
        system.append(JSON_INSTRUCTION)
    max_tokens = request.max_tokens or int(
        target.options.get("default_max_tokens", DEFAULT_MAX_TOKENS)
    )
    body: dict[str, Any] = {
        "model": target.model_id,
        "max_tokens": max_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = "\n\n".join(part for part in system if part)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def _stop(raw: Any) -> str | None:
    return _STOP.get(raw, raw) if isinstance(raw, str) else None


def _input_tokens(usage: Mapping[str, Any]) -> int | None:
    # Cached prompt tokens are reported apart; the prompt is all of them, as in
    # OpenAI's prompt_tokens.
    counts = [
        usage.get(key)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    numbers = [count for count in counts if isinstance(count, int)]
    return sum(numbers) if numbers else None


def _output_tokens(usage: Mapping[str, Any]) -> int | None:
    count = usage.get("output_tokens")
    return count if isinstance(count, int) else None


def complete(target: Target, request: ChatRequest) -> ChatResult:
    started = time.monotonic()
    data = post_json(target, _url(target), _headers(target), _body(target, request))
    if not isinstance(data, Mapping) or not isinstance(data.get("content"), list):
        raise ProviderError("protocol", "message without a content list")
    text = "".join(
        block.get("text", "")
        for block in data["content"]
        if isinstance(block, Mapping) and block.get("type") == "text"
    )
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    return ChatResult(
        text=text,
        finish_reason=_stop(data.get("stop_reason")),
        prompt_tokens=_input_tokens(usage),
        completion_tokens=_output_tokens(usage),
        latency_ms=elapsed_ms(started),
        upstream_model=str(data.get("model") or target.model_id),
    )


def stream(target: Target, request: ChatRequest) -> Iterator[ChatChunk]:
    body = _body(target, request) | {"stream": True}
    upstream = LineStream(
        target, _url(target), _headers(target) | {"Accept": "text/event-stream"}, body
    )
    finish: str | None = None
    prompt = completion = None
    done = False
    with closing(upstream.lines()) as lines:
        for _event, data in sse_events(lines):
            if done:
                continue  # read to the end so the connection can be reused
            event = loads(data)
            if not isinstance(event, Mapping):
                raise ProviderError("protocol", "stream event is not a JSON object")
            kind = event.get("type")
            if kind == "content_block_delta":
                delta = event.get("delta")
                text = delta.get("text", "") if isinstance(delta, Mapping) else ""
                if text:
                    upstream.first_token()
                    yield ChatChunk(text)
            elif kind == "message_start":
                message = event.get("message")
                usage = message.get("usage") if isinstance(message, Mapping) else None
                if isinstance(usage, Mapping):
                    prompt, completion = _input_tokens(usage), _output_tokens(usage)
            elif kind == "message_delta":
                delta, usage = event.get("delta"), event.get("usage")
                if isinstance(delta, Mapping) and delta.get("stop_reason"):
                    upstream.first_token()
                    finish = _stop(delta["stop_reason"])
                if isinstance(usage, Mapping):
                    # Cumulative counts; newer API versions repeat the input ones here.
                    prompt = _input_tokens(usage) or prompt
                    completion = _output_tokens(usage) or completion
            elif kind == "message_stop":
                done = True
            elif kind == "error":
                error = event.get("error") if isinstance(event.get("error"), Mapping) else {}
                raise ProviderError(
                    _STREAM_ERROR_KIND.get(str(error.get("type")), "http_5xx"),
                    clean_message(str(error.get("message", "")), target.api_key),
                )
    if not done:
        raise ProviderError("protocol", "stream ended before message_stop")
    yield ChatChunk("", finish, prompt, completion)


def embed(target: Target, texts: Sequence[str]) -> list[list[float]]:
    raise ProviderError("protocol", "Anthropic has no embeddings API")
