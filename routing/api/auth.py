"""Bearer API keys for services, and the scope check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework import authentication, permissions
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from routing.api.errors import MSG_BAD_KEY, MSG_FORBIDDEN
from routing.models import ApiKey
from routing.services import api_key_hash

LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often


@dataclass(frozen=True)
class ServiceUser:
    """The `request.user` of a request made with an API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> None:
        return None

    def get_username(self) -> str:
        return f"api-key:{self.api_key.name}"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ServiceUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            # The Anthropic SDK sends its key as x-api-key.
            anthropic_key = request.META.get("HTTP_X_API_KEY", "")
            if not anthropic_key:
                return None
            header = f"Bearer {anthropic_key}"
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith("sb_"):
            raise AuthenticationFailed(MSG_BAD_KEY)
        return self._check(token.strip())

    def _check(self, token: str) -> tuple[ServiceUser, ApiKey]:
        parts = token.split("_", 2)
        if len(parts) != 3:
            raise AuthenticationFailed(MSG_BAD_KEY)
        key = (
            ApiKey.objects.select_related("default_agent")
            .filter(prefix=parts[1], is_active=True)
            .first()
        )
        if key is None or not hmac.compare_digest(key.secret_hash, api_key_hash(token)):
            raise AuthenticationFailed(MSG_BAD_KEY)
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            # A conditional UPDATE: one write a minute per key, not one per request.
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return ServiceUser(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword  # makes DRF answer 401, not 403, without credentials


class HasScope(permissions.BasePermission):
    """The API key carries the scope the view names in `required_scope`."""

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "required_scope", None)
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is None:
            user = request.user
            return bool(user is not None and user.is_authenticated and user.is_staff)
        if scope in key.scopes:
            return True
        self.message = MSG_FORBIDDEN.format(scope=scope)
        return False
