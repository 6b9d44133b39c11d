"""What every API view shares: authentication, roles and the OpenAPI inspector.

Two families of views:

- the control plane (/api/... except /api/route): a browser's session or a service's
  API key, and RolePermission (viewer reads, operator or admin writes; API keys only
  where a view names a `required_scope` the key holds, for reads);
- the service endpoints (/api/route and /v1/...): API keys only, with the key's scope.

Anonymous callers get 401 with `WWW-Authenticate: Bearer`; an authenticated caller
without the role or scope gets 403.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.views import APIView

from routing.api import schema as _schema  # noqa: F401  (registers the OpenAPI extensions)
from routing.api.auth import ApiKeyAuthentication, HasScope
from routing.api.parsers import JSONParser, bad_text_paths
from routing.api.permissions import RolePermission


class ApiViewMixin:
    """What every API view has: drf-spectacular's inspector (REST_FRAMEWORK leaves DRF's
    own DEFAULT_SCHEMA_CLASS in place, which /api/schema/ cannot read), and no text the
    database cannot store: not in the body (a 400, routing.api.parsers) and not in the
    URL (no row can have such a key: a 404)."""

    schema = AutoSchema()
    parser_classes = [JSONParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if bad_text_paths(list(kwargs.values())):
            raise NotFound()


class ControlPlaneAuthMixin(ApiViewMixin):
    """Session or API key, and the caller's role.

    The API key authenticator comes first. A request with an `Authorization` (or
    `x-api-key`) header is judged by that key alone: a bad key is a 401, a good key
    without the scope a 403 from RolePermission; a browser's session is only consulted
    when no key is sent (and then CSRF is enforced on writes). With no credentials at
    all, the challenge below turns DRF's NotAuthenticated into a 401.
    """

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [RolePermission]

    def get_authenticate_header(self, request: Request) -> str | None:
        # DRF asks only the first authenticator for its WWW-Authenticate challenge; a
        # session has none, which would turn "not logged in" into a 403. Take the first
        # authenticator that has one, whatever the order.
        for authenticator in self.get_authenticators():  # type: ignore[attr-defined]
            header = authenticator.authenticate_header(request)
            if header:
                return header
        return None


class ControlPlaneAPIView(ControlPlaneAuthMixin, APIView):
    """One operation per method, no queryset (control and analysis endpoints)."""


class ControlPlaneGenericAPIView(ControlPlaneAuthMixin, GenericAPIView):
    """The registry CRUD and the audit lists (viewsets)."""


class ServiceAPIView(ApiViewMixin, APIView):
    """Services only: an API key holding `required_scope` (no session is consulted)."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "route"
