"""API views: thin. Parse, authenticate, call one service, answer."""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from routing.api import errors
from routing.api.auth import ApiKeyAuthentication, HasScope
from routing.api.serializers import RouteRequestSerializer
from routing.services.route import route


def check_body_size(request: Request) -> None:
    limit = settings.SWITCHBOARD_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    size = int(declared) if declared.isdigit() else 0
    if size > limit:
        raise errors.ApiError(
            errors.PAYLOAD_TOO_LARGE, errors.MSG_TOO_LARGE.format(size=size, limit=limit)
        )


class RouteView(APIView):
    """POST /api/route: decide, call the chain, account, record."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "route"

    def post(self, request: Request) -> Response:
        check_body_size(request)
        serializer = RouteRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(route(serializer.validated_data, api_key=request.auth))
