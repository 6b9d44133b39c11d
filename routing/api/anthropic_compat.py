"""The Anthropic-compatible API: POST /v1/messages (streamed or not). Same routing,
accounting and audit as POST /api/route and /v1/chat/completions.

`model` is "auto", an agent key, or a registry model key. Routing hints come from the
request's `metadata` object (Anthropic itself only allows `user_id` there) or from
X-Switchboard-* headers. Text only: `system` becomes a leading system message, text
content blocks become plain text; any other block (images, documents, tool use) and
`tools` are refused with a 400 that says so. `stop_sequences` are applied here, as the
answer arrives: the upstream call is cut short at the first match.

Errors are Anthropic error objects, `{"type": "error", "error": {"type", "message"}}`,
with the HTTP status /api/route would give and three extra fields: `code` (ours, as on
/api/route), `decision_id` when a decision was recorded, and `details` (ours too, plus
`error_code`, where the Anthropic SDK reads a stable code: `APIStatusError.error_code`).
A stream that fails after its first token ends with an `error` event, code
"stream_failed".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from routing.api import errors
from routing.api.base import ServiceAPIView
from routing.api.fast_validation import validated
from routing.api.openai_compat import (
    HINT_PARAMETERS,
    SwitchboardBlockSerializer,
    decision_headers,
    event_stream,
    route_body,
    routing_hints,
    switchboard_block,
)
from routing.api.schema import ANTHROPIC, extend_schema, routed_error_responses
from routing.api.views import check_body_size
from routing.engine.features import estimate_tokens, messages_text
from routing.execution.executor import Execution
from routing.services.route import (
    Prepared,
    all_failed,
    execute_prepared,
    finish,
    prepare,
    start_stream,
)

STREAM_FAILED = "stream_failed"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    529: "overloaded_error",
}
# Kept from the original error response when it is rewritten.
KEPT_HEADERS = ("WWW-Authenticate", "Retry-After")
MAX_STOP_SEQUENCES = 16


def error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def anthropic_error_body(
    status: int,
    code: str,
    message: str,
    decision_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "type": error_type(status),
        "message": message,
        "code": code,
        "details": {"error_code": code, **(details or {})},
    }
    if decision_id:
        error["decision_id"] = decision_id
    return {"type": "error", "error": error}


class AnthropicView(ServiceAPIView):
    required_scope = "route"

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
        body = anthropic_error_body(
            response.status_code,
            error.get("code", errors.INVALID_REQUEST),
            error.get("message", str(exc)),
            error.get("decision_id"),
            error.get("details") or None,
        )
        rewritten = Response(body, status=response.status_code)
        for header in KEPT_HEADERS:
            if header in response:
                rewritten[header] = response[header]
        return rewritten


@extend_schema_serializer(component_name="AnthropicMessages")
class MessagesRequestSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=128)
    max_tokens = serializers.IntegerField(min_value=1, max_value=1_000_000)
    messages = serializers.ListField(child=serializers.DictField(), allow_empty=False)
    system = serializers.JSONField(required=False)
    stream = serializers.BooleanField(required=False, default=False)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=1)
    stop_sequences = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        max_length=MAX_STOP_SEQUENCES,
    )
    metadata = serializers.DictField(
        child=serializers.CharField(allow_blank=True, allow_null=True), required=False
    )
    tools = serializers.ListField(required=False)
    # Accepted for compatibility; Switchboard decides sampling and tools itself.
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    top_k = serializers.IntegerField(required=False, min_value=0)
    tool_choice = serializers.DictField(required=False)


# -- documentation of the answer (the view builds it as a dict) ----------------------------


class TextBlockOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=("text",))
    text = serializers.CharField()


class MessageUsageOutput(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()


class MessageOutput(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.ChoiceField(choices=("message",))
    role = serializers.ChoiceField(choices=("assistant",))
    model = serializers.CharField(help_text="The registry key of the model that answered.")
    content = TextBlockOutput(many=True)
    stop_reason = serializers.ChoiceField(choices=("end_turn", "max_tokens", "stop_sequence"))
    stop_sequence = serializers.CharField(allow_null=True)
    usage = MessageUsageOutput()
    switchboard = SwitchboardBlockSerializer()


def _unsupported(where: str, block: Any) -> errors.ApiError:
    kind = block.get("type", "untyped") if isinstance(block, dict) else type(block).__name__
    if kind == "text":
        return errors.ApiError(
            errors.INVALID_REQUEST,
            f"{where}: a text block needs a string `text`.",
            {"fields": {where: ["text must be a string"]}},
        )
    return errors.ApiError(
        errors.INVALID_REQUEST,
        f"{where}: '{kind}' content is not supported; Switchboard routes text only, so send a "
        "string or text blocks like {'type': 'text', 'text': '...'}.",
        {"fields": {where: [f"unsupported content: {kind}"]}},
    )


def _text(content: Any, where: str) -> str:
    """A string, or text blocks joined by blank lines; anything else is refused."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _unsupported(where, content)
    texts = []
    for index, block in enumerate(content):
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            raise _unsupported(f"{where}[{index}]", block)
        texts.append(block["text"])
    return "\n\n".join(texts)


def internal_messages(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Anthropic's `system` and `messages` as the OpenAI-style list /api/route takes."""
    messages = []
    system = _text(data.get("system") or "", "system")
    if system:
        messages.append({"role": "system", "content": system})
    for index, message in enumerate(data["messages"]):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise errors.ApiError(
                errors.INVALID_REQUEST,
                f"messages[{index}].role must be 'user' or 'assistant' (put system text in "
                "the top-level `system` field).",
                {"fields": {f"messages[{index}].role": ["must be user or assistant"]}},
            )
        if "content" not in message:
            raise errors.ApiError(
                errors.INVALID_REQUEST,
                f"messages[{index}].content is required.",
                {"fields": {f"messages[{index}].content": ["This field is required."]}},
            )
        content = _text(message["content"], f"messages[{index}].content")
        messages.append({"role": role, "content": content})
    return messages


class StopScanner:
    """Cuts text fed piece by piece at the first stop sequence. What could still be the
    start of one is held back until the next piece settles it."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.held = ""
        self.hit: str | None = None

    def feed(self, text: str) -> str:
        """The text that is safe to send now."""
        if not self.stops or self.hit is not None:
            return text if self.hit is None else ""
        self.held += text
        found = [(self.held.find(s), s) for s in self.stops if s in self.held]
        if found:
            index, stop = min(found, key=lambda f: f[0])
            self.hit = stop
            out, self.held = self.held[:index], ""
            return out
        keep = max(
            (n for s in self.stops for n in range(1, len(s)) if self.held.endswith(s[:n])),
            default=0,
        )
        out, self.held = self.held[: len(self.held) - keep], self.held[len(self.held) - keep :]
        return out

    def flush(self) -> str:
        out, self.held = self.held, ""
        return out


def _message_id(decision_id: Any) -> str:
    return f"msg_{decision_id.hex}"


def _usage(run: Execution) -> dict[str, int]:
    assert run.answer is not None
    return {
        "input_tokens": run.answer.prompt_tokens,
        "output_tokens": run.answer.completion_tokens,
    }


def _stop_reason(run: Execution, scanner: StopScanner, max_tokens: int) -> str:
    if scanner.hit is not None:
        return "stop_sequence"
    answer = run.answer
    # Execution keeps no finish reason; real (not estimated) usage at the limit says it.
    if answer and not answer.usage_estimated and answer.completion_tokens >= max_tokens:
        return "max_tokens"
    return "end_turn"


def _stopped_at(run: Execution, scanner: StopScanner) -> None:
    """The upstream call was cut short on purpose, not by a client that left."""
    if scanner.hit is not None and run.answer is not None:
        run.answer.reason = f"stopped at stop sequence {scanner.hit!r}"


class MessagesView(AnthropicView):
    @extend_schema(
        tags=["anthropic-compatible"],
        summary="Messages (Anthropic-compatible)",
        operation_id="v1_messages_create",
        description='`model` is "auto", an agent key or a model key. Text only: `system` '
        "and text content blocks; other blocks and `tools` are refused with a 400. With "
        "`stream`: Anthropic's server-sent events. Errors are Anthropic error objects. The "
        "key may be sent as `x-api-key`, as the Anthropic SDK does.",
        request=MessagesRequestSerializer,
        examples=[
            OpenApiExample(
                "Let Switchboard choose",
                value={
                    "model": "auto",
                    "max_tokens": 256,
                    "system": "You are terse.",
                    "messages": [{"role": "user", "content": "Say hello to the team"}],
                },
                request_only=True,
            )
        ],
        parameters=HINT_PARAMETERS,
        responses={
            (200, "application/json"): MessageOutput,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR,
                description="With `stream`: message_start, content_block_*, message_delta, "
                "message_stop events.",
            ),
            **routed_error_responses(ANTHROPIC),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        check_body_size(request)
        data = validated(MessagesRequestSerializer, request.data)
        if data.get("tools"):
            raise errors.ApiError(
                errors.INVALID_REQUEST,
                "tools are not supported: Switchboard routes text-only requests.",
                {"fields": {"tools": ["not supported"]}},
            )
        openai_style = {
            "model": data["model"],
            "messages": internal_messages(data),
            "max_tokens": data["max_tokens"],
            "temperature": data.get("temperature"),
        }
        metadata = {k: v for k, v in (data.get("metadata") or {}).items() if v}
        body = route_body(openai_style, routing_hints(request, metadata))
        prepared = prepare(body, api_key=request.auth)
        scanner = StopScanner(data.get("stop_sequences") or ())
        if data["stream"]:
            return self._stream(prepared, body, scanner)
        run = execute_prepared(prepared)
        text = ""
        if run.answer is not None:
            text = scanner.feed(run.text)
            text += scanner.flush()
        row = finish(prepared, run)
        if run.answer is None:
            raise all_failed(prepared, run, row)
        response = Response(
            {
                "id": _message_id(prepared.decision_id),
                "type": "message",
                "role": "assistant",
                "model": run.answer.model,
                "content": [{"type": "text", "text": text}] if text else [],
                "stop_reason": _stop_reason(run, scanner, body["max_tokens"]),
                "stop_sequence": scanner.hit,
                "usage": _usage(run),
                "switchboard": switchboard_block(prepared, run),
            }
        )
        return decision_headers(response, prepared, run)

    def _stream(
        self, prepared: Prepared, body: Mapping[str, Any], scanner: StopScanner
    ) -> StreamingHttpResponse:
        run, first, pieces = start_stream(prepared)
        events = _sse_events(prepared, run, first, pieces, scanner, body["max_tokens"])
        return decision_headers(event_stream(events), prepared, run)


def _sse(event: str, payload: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps({'type': event, **payload})}\n\n".encode()


def _delta(text: str) -> bytes:
    return _sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


def _sse_events(
    prepared: Prepared,
    run: Execution,
    first: str,
    rest: Iterator[str],
    scanner: StopScanner,
    max_tokens: int,
) -> Iterator[bytes]:
    """Anthropic's event sequence. The audit row is written when the stream ends, however
    it ends: finished, stopped at a stop sequence, failed after the first token, or the
    client gone (closed)."""
    assert run.answer is not None
    message = {
        "id": _message_id(prepared.decision_id),
        "type": "message",
        "role": "assistant",
        "model": run.answer.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        # The upstream reports usage at the end; until then, an estimate.
        "usage": {
            "input_tokens": estimate_tokens(messages_text(prepared.messages)),
            "output_tokens": 0,
        },
    }
    finished = False
    try:
        yield _sse("message_start", {"message": message})
        yield _sse(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        yield _sse("ping", {})
        for text in itertools.chain([first], rest):
            out = scanner.feed(text)
            if out:
                yield _delta(out)
            if scanner.hit is not None:
                rest.close()  # type: ignore[attr-defined]  # stop the upstream call
                _stopped_at(run, scanner)
                break
        tail = scanner.flush()
        if tail:
            yield _delta(tail)
        # Record before the last events, so the row exists once the client has them.
        finish(prepared, run)
        finished = True
        if run.stream_error or run.answer is None:
            yield _sse(
                "error",
                {
                    "error": {
                        "type": "api_error",
                        "message": run.stream_error or errors.MSG_ALL_FAILED,
                        "code": STREAM_FAILED,
                        "details": {"error_code": STREAM_FAILED},
                        "decision_id": str(prepared.decision_id),
                    }
                },
            )
            return
        yield _sse("content_block_stop", {"index": 0})
        yield _sse(
            "message_delta",
            {
                "delta": {
                    "stop_reason": _stop_reason(run, scanner, max_tokens),
                    "stop_sequence": scanner.hit,
                },
                "usage": _usage(run),
            },
        )
        yield _sse("message_stop", {})
    finally:
        rest.close()  # type: ignore[attr-defined]
        if not finished:  # the client went away mid-stream
            finish(prepared, run)
