"""The OpenAI-compatible API: /v1/chat/completions (streamed or not), /v1/models,
/v1/embeddings. Same routing, accounting and audit as POST /api/route.

`model` is "auto", an agent key, or a registry model key. Routing hints come from the
request's `metadata` object or from X-Switchboard-* headers. Errors are OpenAI-style
error objects carrying the same codes as /api/route.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterator, Mapping
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from routing.api import errors
from routing.api.base import ServiceAPIView
from routing.api.fast_validation import SLOW, fast_check, validated
from routing.api.schema import OPENAI, error_responses, extend_schema, routed_error_responses
from routing.api.serializers import AttemptSerializer, MessageSerializer, TaskSerializer
from routing.api.views import check_body_size
from routing.engine.features import estimate_tokens
from routing.execution.executor import Attempt, Execution, provider_failure, target_for
from routing.providers import ProviderError, embed
from routing.services.route import (
    all_failed,
    execute_prepared,
    finish,
    prepare,
    public_attempt,
    start_stream,
)
from routing.snapshot import current_snapshot

HINT_HEADERS = {
    "agent": "HTTP_X_SWITCHBOARD_AGENT",
    "task_id": "HTTP_X_SWITCHBOARD_TASK_ID",
    "task_type": "HTTP_X_SWITCHBOARD_TASK_TYPE",
    "complexity": "HTTP_X_SWITCHBOARD_COMPLEXITY",
    "classification": "HTTP_X_SWITCHBOARD_CLASSIFICATION",
    "privacy_level": "HTTP_X_SWITCHBOARD_PRIVACY_LEVEL",
    "session_id": "HTTP_X_SWITCHBOARD_SESSION_ID",
    "tags": "HTTP_X_SWITCHBOARD_TAGS",
    "cache": "HTTP_X_SWITCHBOARD_CACHE",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "api_error",
}


def openai_error(
    status: int, code: str, message: str, decision_id: str | None = None, **extra: Any
) -> Response:
    body = {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "api_error"),
            "param": None,
            "code": code,
        }
    }
    if decision_id:
        body["error"]["decision_id"] = decision_id
    body["error"].update(extra)
    return Response(body, status=status)


class OpenAIView(ServiceAPIView):
    required_scope = "route"

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
        extra = {"details": error["details"]} if error.get("details") else {}
        return openai_error(
            response.status_code,
            error.get("code", errors.INVALID_REQUEST),
            error.get("message", str(exc)),
            error.get("decision_id"),
            **extra,
        )


class ChatCompletionSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=128)
    messages = MessageSerializer(many=True, allow_empty=False)
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = serializers.DictField(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)
    max_completion_tokens = serializers.IntegerField(
        required=False, min_value=1, max_value=1_000_000
    )
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    response_format = serializers.DictField(required=False)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    # Accepted for compatibility; Switchboard decides these itself.
    user = serializers.CharField(required=False)
    n = serializers.IntegerField(required=False, min_value=1, max_value=1)


# -- documentation of the answers (the views build them as dicts) -------------------------

TAG = "openai-compatible"
HINT_PARAMETERS = [
    OpenApiParameter(
        "X-Switchboard-" + "-".join(part.capitalize() for part in name.split("_")),
        str,
        OpenApiParameter.HEADER,
        description=f"Routing hint `{name}` (also accepted in the body's `metadata`).",
    )
    for name in HINT_HEADERS
]


class SwitchboardBlockSerializer(serializers.Serializer):
    """What Switchboard decided, added to an OpenAI- or Anthropic-style answer."""

    decision_id = serializers.UUIDField()
    strategy = serializers.CharField()
    chain = serializers.ListField(child=serializers.CharField())
    attempts = AttemptSerializer(many=True)
    cost_usd = serializers.FloatField()
    usage_estimated = serializers.BooleanField()
    cached = serializers.BooleanField()


class ChatMessageOutput(serializers.Serializer):
    role = serializers.ChoiceField(choices=("assistant",))
    content = serializers.CharField(allow_blank=True)


class ChatChoiceOutput(serializers.Serializer):
    index = serializers.IntegerField()
    message = ChatMessageOutput()
    finish_reason = serializers.CharField()


class ChatUsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class ChatCompletionOutput(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=("chat.completion",))
    created = serializers.IntegerField()
    model = serializers.CharField(help_text="The registry key of the model that answered.")
    choices = ChatChoiceOutput(many=True)
    usage = ChatUsageOutput()
    switchboard = SwitchboardBlockSerializer()


class ModelEntryOutput(serializers.Serializer):
    id = serializers.CharField(help_text='"auto", a model key or an agent key.')
    object = serializers.ChoiceField(choices=("model",))
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class ModelListOutput(serializers.Serializer):
    object = serializers.ChoiceField(choices=("list",))
    data = ModelEntryOutput(many=True)


class EmbeddingOutput(serializers.Serializer):
    object = serializers.ChoiceField(choices=("embedding",))
    index = serializers.IntegerField()
    embedding = serializers.ListField(child=serializers.FloatField())


class EmbeddingUsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class EmbeddingListOutput(serializers.Serializer):
    object = serializers.ChoiceField(choices=("list",))
    data = EmbeddingOutput(many=True)
    model = serializers.CharField()
    usage = EmbeddingUsageOutput()


def routing_hints(request: Request, metadata: Mapping[str, str]) -> dict[str, str]:
    hints = {
        name: request.META[header]
        for name, header in HINT_HEADERS.items()
        if request.META.get(header)
    }
    hints.update({k: v for k, v in metadata.items() if k in HINT_HEADERS and v})
    return hints


def _schema(response_format: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not response_format or response_format.get("type") == "text":
        return None
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            return schema
    raise errors.ApiError(
        errors.INVALID_REQUEST,
        "response_format must be {'type': 'text'}, {'type': 'json_object'} or "
        "{'type': 'json_schema', 'json_schema': {'schema': {...}}}.",
        {"fields": {"response_format": ["unsupported"]}},
    )


def route_body(data: Mapping[str, Any], hints: Mapping[str, str]) -> dict[str, Any]:
    """An OpenAI-style request as the body POST /api/route would take."""
    body: dict[str, Any] = {"messages": data["messages"]}
    model = data["model"]
    if model != "auto":
        snapshot = current_snapshot()  # cached per config version: no query here
        if model in snapshot.agents:
            body["agent"] = model
        elif model in snapshot.models:
            body["model"] = model
        else:
            raise errors.ApiError(
                errors.UNKNOWN_MODEL,
                f"'{model}' is neither 'auto', an agent nor a model in the registry (GET /v1/models lists them).",
            )
    if hints.get("agent"):
        body["agent"] = hints["agent"]
    task: dict[str, Any] = {}
    for name in ("task_type", "classification", "privacy_level"):
        if hints.get(name):
            task[name.removeprefix("task_")] = hints[name]
    if hints.get("task_id"):
        task["id"] = hints["task_id"]
    if hints.get("complexity"):
        task["complexity"] = _number_or_word(hints["complexity"])
    if hints.get("tags"):
        task["tags"] = [t.strip() for t in hints["tags"].split(",") if t.strip()]
    if task:
        body["task"] = task
    if hints.get("session_id"):
        body["session_id"] = hints["session_id"]
    _check_hints(body, hints)
    max_tokens = data.get("max_completion_tokens") or data.get("max_tokens")
    if max_tokens:
        body["max_tokens"] = max_tokens
    if data.get("temperature") is not None:
        body["temperature"] = data["temperature"]
    if hints.get("cache", "").lower() in {"false", "0", "no", "off"}:
        body["cache"] = False
    schema = _schema(data.get("response_format"))
    if schema is not None:
        body["response_schema"] = schema
    return body


def _number_or_word(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:  # a word ("simple"), or no number at all ("²"): the check says
        return value


MSG_BAD_HINT = (
    "A routing hint (an X-Switchboard-* header or a metadata entry) is not valid; "
    "see details.fields."
)
# The task fields of /api/route, by the name of the hint that sets them.
TASK_FIELD_HINTS = {"id": "task_id", "type": "task_type"}
HINT_LIMITS = {"agent": 64, "session_id": 200}  # as POST /api/route holds them


def _check_hints(body: Mapping[str, Any], hints: Mapping[str, str]) -> None:
    """The hints hold what POST /api/route would let through: its task fields, and its
    lengths of agent and session id. A 400 names each wrong hint."""
    problems: dict[str, Any] = {}
    task_hints = body.get("task", {})
    if fast_check(TaskSerializer)(task_hints) is SLOW:  # not plainly valid: DRF says why
        task = TaskSerializer(data=task_hints)
        if not task.is_valid():
            problems.update({TASK_FIELD_HINTS.get(k, k): v for k, v in task.errors.items()})
    for name, limit in HINT_LIMITS.items():
        value = hints.get(name) or ""
        if len(value) > limit:
            problems[name] = [f"Ensure this field has no more than {limit} characters."]
    if problems:
        raise errors.ApiError(errors.INVALID_REQUEST, MSG_BAD_HINT, {"fields": problems})


def _completion_id(decision_id: Any) -> str:
    return f"chatcmpl-{decision_id.hex}"


def _usage(run: Execution) -> dict[str, Any]:
    answer = run.answer
    assert answer is not None
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def switchboard_block(prepared: Any, run: Execution) -> dict[str, Any]:
    return {
        "decision_id": str(prepared.decision_id),
        "strategy": prepared.decision.strategy,
        "chain": [c.model for c in prepared.decision.chain],
        "attempts": [public_attempt(a) for a in run.attempts],
        "cost_usd": run.cost_usd,
        "usage_estimated": bool(run.answer and run.answer.usage_estimated),
        "cached": run.cached,
    }


class ChatCompletionsView(OpenAIView):
    @extend_schema(
        tags=[TAG],
        summary="Chat completions (OpenAI-compatible)",
        operation_id="v1_chat_completions_create",
        description='`model` is "auto", an agent key or a model key; Switchboard decides '
        "the rest, as POST /api/route does. With `stream`: server-sent events in OpenAI's "
        "chunk format, ending with `data: [DONE]`. Errors are OpenAI error objects.",
        request=ChatCompletionSerializer,
        examples=[
            OpenApiExample(
                "Let Switchboard choose",
                value={
                    "model": "auto",
                    "messages": [{"role": "user", "content": "Say hello to the team"}],
                    "metadata": {"task_type": "summarization", "complexity": "simple"},
                },
                request_only=True,
            )
        ],
        parameters=HINT_PARAMETERS,
        responses={
            (200, "application/json"): ChatCompletionOutput,
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description="With `stream`: `data: {chunk}` events."
            ),
            **routed_error_responses(OPENAI),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        check_body_size(request)
        data = validated(ChatCompletionSerializer, request.data)
        body = route_body(data, routing_hints(request, data.get("metadata") or {}))
        prepared = prepare(body, api_key=request.auth)
        if data["stream"]:
            return self._stream(prepared, body, data)
        run = execute_prepared(prepared)
        row = finish(prepared, run)
        if run.answer is None:
            raise all_failed(prepared, run, row)
        text = run.text if body.get("response_schema") is None else json.dumps(run.content)
        response = Response(
            {
                "id": _completion_id(prepared.decision_id),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": run.answer.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(run),
                "switchboard": switchboard_block(prepared, run),
            }
        )
        return decision_headers(response, prepared, run)

    def _stream(self, prepared: Any, body: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
        run, first, pieces = start_stream(prepared)
        include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
        events = _sse_events(prepared, run, first, pieces, include_usage)
        return decision_headers(event_stream(events), prepared, run)


def decision_headers(response: Any, prepared: Any, run: Execution) -> Any:
    """Name the answering model and the audit row in the response headers."""
    assert run.answer is not None
    response["X-Switchboard-Model"] = run.answer.model
    response["X-Switchboard-Decision-Id"] = str(prepared.decision_id)
    return response


def event_stream(events: Iterator[bytes]) -> StreamingHttpResponse:
    """A server-sent-events response that proxies do not buffer."""
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _sse(payload: Mapping[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def _sse_events(
    prepared: Any, run: Execution, first: str, rest: Iterator[str], include_usage: bool
) -> Iterator[bytes]:
    """The OpenAI chunk format. The audit row is written when the stream ends, however
    it ends: finished, failed after the first token, or the client gone (closed)."""
    assert run.answer is not None
    model = run.answer.model
    base = {
        "id": _completion_id(prepared.decision_id),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    finished = False
    try:
        yield _sse(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": first},
                        "finish_reason": None,
                    }
                ],
            }
        )
        for text in rest:
            yield _sse(
                {
                    **base,
                    "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
                }
            )
        # Record before the last events, so the row exists once the client has [DONE].
        finish(prepared, run)
        finished = True
        if run.stream_error:
            error = {"message": run.stream_error, "type": "api_error", "code": "stream_failed"}
            yield _sse({"error": {**error, "decision_id": str(prepared.decision_id)}})
            return
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if include_usage and run.answer is not None:
            yield _sse({**base, "choices": [], "usage": _usage(run)})
        yield _sse("[DONE]")
    finally:
        rest.close()  # type: ignore[attr-defined]
        if not finished:  # the client went away mid-stream
            finish(prepared, run)


class ModelsView(OpenAIView):
    required_scope = "route"

    @extend_schema(
        tags=[TAG],
        summary="List models (OpenAI-compatible)",
        operation_id="v1_models_list",
        description='"auto", the enabled registry models and the agents: each is a valid '
        "`model` for the other /v1 endpoints.",
        responses={200: ModelListOutput, **error_responses(401, 403, family=OPENAI)},
    )
    def get(self, request: Request) -> Response:
        snapshot = current_snapshot()
        data = [{"id": "auto", "object": "model", "created": 0, "owned_by": "switchboard"}]
        data += [
            {"id": key, "object": "model", "created": 0, "owned_by": model.provider}
            for key, model in sorted(snapshot.models.items())
            if model.enabled
        ]
        data += [
            {"id": key, "object": "model", "created": 0, "owned_by": "switchboard-agent"}
            for key in sorted(snapshot.agents)
        ]
        return Response({"object": "list", "data": data})


class EmbeddingsSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=128)
    input = serializers.JSONField()
    # The SDK asks for base64 (packed little-endian float32) by default.
    encoding_format = serializers.ChoiceField(
        choices=("float", "base64"), required=False, default="float"
    )
    dimensions = serializers.IntegerField(required=False, min_value=1)
    user = serializers.CharField(required=False)

    def validate_input(self, value: Any) -> list[str]:
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return value
        raise serializers.ValidationError("Give a non-empty string or a list of non-empty strings.")


class EmbeddingsView(OpenAIView):
    """Always a local embedding model (seed 003: never pay for embeddings). With none
    available: a clear error, and no cloud call."""

    @extend_schema(
        tags=[TAG],
        summary="Embeddings (OpenAI-compatible)",
        operation_id="v1_embeddings_create",
        description="Always answered by a local embedding model; with none available, an "
        "error and no cloud call.",
        request=EmbeddingsSerializer,
        examples=[
            OpenApiExample(
                "Two texts", value={"model": "auto", "input": ["hello", "world"]}, request_only=True
            )
        ],
        responses={200: EmbeddingListOutput, **routed_error_responses(OPENAI)},
    )
    def post(self, request: Request) -> Response:
        check_body_size(request)
        serializer = EmbeddingsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        texts = serializer.validated_data["input"]
        body: dict[str, Any] = {
            "messages": [{"role": "user", "content": t} for t in texts],
            "task": {"type": "embedding"},
        }
        model = serializer.validated_data["model"]
        if model != "auto":
            body["model"] = model
        prepared = prepare(body, api_key=request.auth)
        run = Execution()
        vectors = None
        for candidate in prepared.decision.chain:
            target_model = prepared.snapshot.models[candidate.model]
            vectors = _embed(target_model, texts, run)
            if vectors is not None:
                break
        row = finish(prepared, run)
        if vectors is None or run.answer is None:
            raise all_failed(prepared, run, row)
        encode = _base64 if serializer.validated_data.get("encoding_format") == "base64" else list
        return Response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": encode(v)}
                    for i, v in enumerate(vectors)
                ],
                "model": run.answer.model,
                "usage": {
                    "prompt_tokens": run.answer.prompt_tokens,
                    "total_tokens": run.answer.prompt_tokens,
                },
            }
        )


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _embed(model: Any, texts: list[str], run: Execution) -> list[list[float]] | None:
    started = time.perf_counter()
    try:
        vectors = embed(target_for(model), texts)
    except ProviderError as exc:
        run.attempts.append(provider_failure(model, exc, started))
        return None
    tokens = sum(estimate_tokens(t) for t in texts)
    attempt = Attempt(
        model.key,
        model.provider,
        "success",
        None,
        int((time.perf_counter() - started) * 1000),
        prompt_tokens=tokens,
        usage_estimated=True,
        billed=True,
    )
    run.attempts.append(attempt)
    run.answer = attempt
    return vectors
