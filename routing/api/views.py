"""API views: thin. Parse, authenticate, call one service, answer."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer
from rest_framework.request import Request
from rest_framework.response import Response

from routing.api import errors
from routing.api.base import ServiceAPIView
from routing.api.fast_validation import validated
from routing.api.schema import extend_schema, routed_error_responses
from routing.api.serializers import (
    RouteAnswerSerializer,
    RouteDryRunSerializer,
    RouteRequestSerializer,
)
from routing.services.route import route


def check_body_size(request: Request) -> None:
    limit = settings.SWITCHBOARD_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    size = int(declared) if declared.isdigit() else 0
    if size > limit:
        raise errors.ApiError(
            errors.PAYLOAD_TOO_LARGE, errors.MSG_TOO_LARGE.format(size=size, limit=limit)
        )


class RouteView(ServiceAPIView):
    """POST /api/route: decide, call the chain, account, record."""

    required_scope = "route"

    @extend_schema(
        tags=["route"],
        summary="Route a request",
        description="Decide which model answers, call the chain (falling back in order), "
        "account for the spend and record the decision. With `dry_run`: decide and record "
        "only. API keys with the 'route' scope.",
        request=RouteRequestSerializer,
        examples=[
            OpenApiExample(
                "A routine task",
                value={
                    "messages": [{"role": "user", "content": "Say hello to the team"}],
                    "task": {"type": "summarization", "complexity": "simple"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "Decide only (dry run)",
                value={
                    "messages": [{"role": "user", "content": "Review this architecture"}],
                    "task": {"complexity": 8, "privacy_level": "high"},
                    "dry_run": True,
                },
                request_only=True,
            ),
        ],
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="RouteResult",
                    serializers=[RouteAnswerSerializer, RouteDryRunSerializer],
                    resource_type_field_name=None,
                ),
                description="The answer, or with `dry_run` the decision alone.",
            ),
            **routed_error_responses(),
        },
    )
    def post(self, request: Request) -> Response:
        check_body_size(request)
        # RouteRequestSerializer.validate refuses undeclared keys, and does nothing else.
        body = validated(RouteRequestSerializer, request.data, reject_unknown=True)
        return Response(route(body, api_key=request.auth))
