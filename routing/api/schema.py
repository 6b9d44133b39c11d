"""The OpenAPI description of the API (drf-spectacular): the error bodies as components,
the error responses each endpoint lists, and the extensions that teach the generator
about our API-key authentication and our query-parameter filters.

Documentation only: nothing here validates or renders a real response.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from drf_spectacular import utils as spectacular
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiFilterExtension,
    OpenApiSerializerExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_parameter_type
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from routing.api import errors

F = TypeVar("F", bound=Callable[..., Any])


def extend_schema(**kwargs: Any) -> Callable[[F], F]:
    """drf-spectacular's `extend_schema`, for the views of this package.

    On a view method, spectacular builds the method's schema on top of DRF's
    DEFAULT_SCHEMA_CLASS, which REST_FRAMEWORK leaves at DRF's own (not spectacular's)
    AutoSchema. Our views name spectacular's AutoSchema themselves (routing.api.base);
    this hands the method the same base, the way DRF's `@action(schema=...)` does.
    With DEFAULT_SCHEMA_CLASS set to drf_spectacular.openapi.AutoSchema it changes nothing.
    """
    decorate = spectacular.extend_schema(**kwargs)

    def decorator(f: F) -> F:
        if inspect.isfunction(f) and not hasattr(f, "cls"):
            f.kwargs = {"schema": AutoSchema, **getattr(f, "kwargs", {})}  # type: ignore[attr-defined]
        return decorate(f)

    return decorator


# Every `error.code` the envelope carries (the ErrorCodeEnum component).
ERROR_CODES = tuple(errors.STATUS_BY_CODE)

# Which family of error body an endpoint answers with.
API = "api"  # /api/...: the shared envelope
OPENAI = "openai"  # /v1/chat/completions, /v1/models, /v1/embeddings
ANTHROPIC = "anthropic"  # /v1/messages


# -- the error bodies -------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=ERROR_CODES, help_text="A stable, machine-readable code; see each response."
    )
    message = serializers.CharField(help_text="What went wrong, for a person.")
    details = serializers.DictField(
        help_text=(
            "More about it: `fields` (field name -> messages) for invalid_request, "
            "`attempts` and `chain` for all_models_failed, the refusal's data for refusals."
        )
    )
    decision_id = serializers.UUIDField(
        allow_null=True,
        help_text="The audit row of the decision, when one was recorded (refusals, failures).",
    )


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The one error envelope of /api/...: `{"error": {code, message, details, decision_id}}`."""

    error = ErrorSerializer()


class OpenAIErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField(
        help_text="OpenAI's error type: invalid_request_error, authentication_error, "
        "permission_error, not_found_error, rate_limit_error, api_error."
    )
    param = serializers.CharField(allow_null=True)
    code = serializers.ChoiceField(choices=ERROR_CODES, help_text="The code /api/route would give.")
    decision_id = serializers.UUIDField(required=False)
    details = serializers.DictField(required=False)


class OpenAIErrorEnvelopeSerializer(serializers.Serializer):
    """An OpenAI-style error object, carrying the codes of /api/route."""

    error = OpenAIErrorSerializer()


class AnthropicErrorSerializer(serializers.Serializer):
    type = serializers.CharField(
        help_text="Anthropic's error type: invalid_request_error, authentication_error, "
        "permission_error, not_found_error, request_too_large, rate_limit_error, api_error."
    )
    message = serializers.CharField()
    code = serializers.ChoiceField(choices=ERROR_CODES, help_text="The code /api/route would give.")
    details = serializers.DictField(
        help_text="Ours, plus `error_code` (the same code), which the Anthropic SDK reads."
    )
    decision_id = serializers.UUIDField(required=False)


class AnthropicErrorEnvelopeSerializer(serializers.Serializer):
    """An Anthropic-style error: `{"type": "error", "error": {...}}`."""

    type = serializers.ChoiceField(choices=("error",))
    error = AnthropicErrorSerializer()


ENVELOPES = {
    API: ErrorEnvelopeSerializer,
    OPENAI: OpenAIErrorEnvelopeSerializer,
    ANTHROPIC: AnthropicErrorEnvelopeSerializer,
}

DESCRIPTIONS = {
    400: "invalid_request: a field is missing or wrong (details.fields says which and why), "
    "or the body is not valid JSON.",
    401: "unauthenticated: no credentials, or an API key that is unknown or revoked. "
    "Carries `WWW-Authenticate: Bearer`.",
    403: "forbidden: the user lacks the role, or the API key the scope, for this operation. "
    "Nothing was changed.",
    404: "not_found: no such row.",
    409: "not_replayable: the stored decision keeps no inputs the engine can read.",
    413: "payload_too_large: the body is over SWITCHBOARD_MAX_BODY_BYTES.",
    422: "no_eligible_model: no model in the registry satisfies the request's constraints.",
    429: "budget_exceeded: a budget would be exceeded (details name it).",
    502: "all_models_failed: every model in the chain failed; details.attempts says why.",
}
# The routed endpoints (/api/route, /v1/...) can refuse in more ways than the others.
ROUTED_DESCRIPTIONS = {
    403: "forbidden: the API key lacks the 'route' scope; or denied_by_rule: a routing rule "
    "refused the request (decision_id names the recorded refusal).",
    404: "unknown_agent or unknown_model: the agent or model named is not in the registry.",
}


def error_responses(
    *statuses: int, family: str = API, notes: dict[int, str] | None = None
) -> dict[int, OpenApiResponse]:
    """`responses=` entries for the given error statuses, in the family's error body."""
    envelope = ENVELOPES[family]
    notes = notes or {}
    return {
        code: OpenApiResponse(envelope, description=notes.get(code, DESCRIPTIONS[code]))
        for code in statuses
    }


def routed_error_responses(family: str = API) -> dict[int, OpenApiResponse]:
    """Every error a routed request can end in: the route API and /v1."""
    return error_responses(
        400, 401, 403, 404, 413, 422, 429, 502, family=family, notes=ROUTED_DESCRIPTIONS
    )


# -- extensions -------------------------------------------------------------------------


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Two ways to send the same key (either one will do): the bearer header, or the
    Anthropic SDK's x-api-key header."""

    target_class = "routing.api.auth.ApiKeyAuthentication"
    name = ["bearerAuth", "apiKeyHeader"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{"bearerAuth": []}, {"apiKeyHeader": []}]  # OR, not AND

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "sb_<prefix>_<secret>",
                "description": "A Switchboard API key: `Authorization: Bearer sb_...`.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "x-api-key",
                "description": "The same API key in the header the Anthropic SDK sends.",
            },
        ]


class _RefusesUnknownFields(OpenApiSerializerExtension):
    """Inputs that answer 400 to a field they do not know say so: additionalProperties
    is false in their request schema."""

    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


class StrictControlInput(_RefusesUnknownFields):
    target_class = "routing.api.control_serializers.StrictSerializer"


class StrictAnalysisInput(_RefusesUnknownFields):
    target_class = "routing.api.analysis_serializers.StrictSerializer"


class StrictRouteInput(_RefusesUnknownFields):
    target_class = "routing.api.serializers.RouteRequestSerializer"


class QueryFilterParameters(OpenApiFilterExtension):
    """A list's filters are the fields of the view's `query_filter` serializer."""

    target_class = "routing.api.filters.QueryFilterBackend"

    def get_schema_operation_parameters(
        self, auto_schema: Any, *args: Any, **kwargs: Any
    ) -> list[dict[str, Any]]:
        query_filter = getattr(auto_schema.view, "query_filter", None)
        if query_filter is None:
            return []
        parameters = []
        for name, field in query_filter().fields.items():
            schema = auto_schema._map_serializer_field(field, "request")
            parameters.append(
                build_parameter_type(
                    name=name,
                    schema=schema,
                    location="query",
                    required=False,
                    description=str(field.help_text or ""),
                )
            )
        return parameters
