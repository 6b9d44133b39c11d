"""One error envelope for the whole API:

    {"error": {"code": "...", "message": "...", "details": {...}, "decision_id": "..."}}

Codes and messages are module constants so tests can assert them exactly.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

INVALID_REQUEST = "invalid_request"
UNAUTHENTICATED = "unauthenticated"
FORBIDDEN = "forbidden"
NOT_FOUND = "not_found"
UNKNOWN_AGENT = "unknown_agent"
UNKNOWN_MODEL = "unknown_model"
PAYLOAD_TOO_LARGE = "payload_too_large"
NO_ELIGIBLE_MODEL = "no_eligible_model"
DENIED_BY_RULE = "denied_by_rule"
BUDGET_EXCEEDED = "budget_exceeded"
ALL_MODELS_FAILED = "all_models_failed"
METHOD_NOT_ALLOWED = "method_not_allowed"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
THROTTLED = "throttled"
NOT_REPLAYABLE = "not_replayable"
CONFLICT = "conflict"  # the row is in a state that does not allow the operation

MSG_INVALID = "The request is not valid; see details for each field."
MSG_MALFORMED_JSON = "The body is not valid JSON: {error}"
MSG_UNAUTHENTICATED = "Send an API key: 'Authorization: Bearer sb_...'."
MSG_BAD_KEY = "The API key is not valid or has been revoked."
MSG_FORBIDDEN = "This API key lacks the '{scope}' scope."
MSG_TOO_LARGE = "The body is {size} bytes; the limit is {limit} bytes (SWITCHBOARD_MAX_BODY_BYTES)."
MSG_ALL_FAILED = "Every model in the chain failed; details.attempts says why each was rejected."

STATUS_BY_CODE = {
    INVALID_REQUEST: status.HTTP_400_BAD_REQUEST,
    UNAUTHENTICATED: status.HTTP_401_UNAUTHORIZED,
    FORBIDDEN: status.HTTP_403_FORBIDDEN,
    NOT_FOUND: status.HTTP_404_NOT_FOUND,
    UNKNOWN_AGENT: status.HTTP_404_NOT_FOUND,
    UNKNOWN_MODEL: status.HTTP_404_NOT_FOUND,
    METHOD_NOT_ALLOWED: status.HTTP_405_METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    NOT_REPLAYABLE: status.HTTP_409_CONFLICT,
    CONFLICT: status.HTTP_409_CONFLICT,
    NO_ELIGIBLE_MODEL: status.HTTP_422_UNPROCESSABLE_ENTITY,
    DENIED_BY_RULE: status.HTTP_403_FORBIDDEN,
    BUDGET_EXCEEDED: status.HTTP_429_TOO_MANY_REQUESTS,
    THROTTLED: status.HTTP_429_TOO_MANY_REQUESTS,
    ALL_MODELS_FAILED: status.HTTP_502_BAD_GATEWAY,
}


class ApiError(exceptions.APIException):
    """Raise anywhere in a view: rendered in the shared envelope."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        decision_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = STATUS_BY_CODE[code]
        self.error_code = code
        self.message = message
        self.details = details or {}
        self.decision_id = decision_id


def envelope(
    code: str, message: str, details: Any = None, decision_id: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "decision_id": decision_id,
        }
    }


def error_response(error: ApiError) -> Response:
    return Response(
        envelope(error.error_code, error.message, error.details, error.decision_id),
        status=error.status_code,
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with every error rewritten into the envelope."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, Http404):  # DRF turns it into NotFound; keep our code for it
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ParseError):
        body = envelope(INVALID_REQUEST, MSG_MALFORMED_JSON.format(error=exc.detail))
    elif isinstance(exc, exceptions.ValidationError):
        body = envelope(INVALID_REQUEST, MSG_INVALID, {"fields": exc.detail})
    elif isinstance(exc, exceptions.NotAuthenticated):
        body = envelope(UNAUTHENTICATED, MSG_UNAUTHENTICATED)
    elif isinstance(exc, exceptions.AuthenticationFailed):
        body = envelope(UNAUTHENTICATED, str(exc.detail))
    elif isinstance(exc, exceptions.PermissionDenied):
        body = envelope(FORBIDDEN, str(exc.detail))
    elif isinstance(exc, exceptions.NotFound):
        body = envelope(NOT_FOUND, str(exc.detail))
    elif isinstance(exc, exceptions.MethodNotAllowed):
        body = envelope(METHOD_NOT_ALLOWED, str(exc.detail))
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        body = envelope(UNSUPPORTED_MEDIA_TYPE, str(exc.detail))
    elif isinstance(exc, exceptions.Throttled):
        body = envelope(THROTTLED, str(exc.detail))
    else:
        body = envelope(INVALID_REQUEST, str(getattr(exc, "detail", exc)))
    response.data = body
    return response
