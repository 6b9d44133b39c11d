"""Bearer API keys for services, and the scope check."""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import Any

from django.utils import timezone
from rest_framework import authentication, permissions
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from routing.api.errors import MSG_BAD_KEY, MSG_FORBIDDEN
from routing.models import ApiKey
from routing.services import api_key_hash

LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often
KEY_CACHE_SECONDS = 2.0  # a revoked key stops working within this long, in every process


class _RecentKeys:
    """Keys verified in the last KEY_CACHE_SECONDS, by hash: saves a query per request.
    Only positive answers are kept, so a new key works at once.

    Also when this process last wrote each key's `last_used_at`: a key re-read from the
    database, or still cached with the value it was read with, must not cost an UPDATE
    per request."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, ApiKey]] = {}
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> ApiKey | None:
        item = self._items.get(digest)
        if item is None or monotonic() - item[0] > KEY_CACHE_SECONDS:
            return None
        return item[1]

    def put(self, digest: str, key: ApiKey) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[digest] = (monotonic(), key)

    def claim_write(self, digest: str) -> bool:
        """True for the one caller a LAST_USED_RESOLUTION in this process that should
        write the key's last_used_at."""
        now = monotonic()
        with self._lock:
            last = self._written.get(digest)
            if last is not None and now - last < LAST_USED_RESOLUTION.total_seconds():
                return False
            if len(self._written) > 10_000:
                self._written.clear()
            self._written[digest] = now
            return True

    def clear(self) -> None:
        self._items.clear()
        self._written.clear()


_recent_keys = _RecentKeys()


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
        digest = api_key_hash(token)
        key = _recent_keys.get(digest)
        if key is None:
            key = (
                ApiKey.objects.select_related("default_agent")
                .filter(prefix=parts[1], is_active=True)
                .first()
            )
            if key is None or not hmac.compare_digest(key.secret_hash, digest):
                raise AuthenticationFailed(MSG_BAD_KEY)
            _recent_keys.put(digest, key)
        now = timezone.now()
        if (
            key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION
        ) and _recent_keys.claim_write(digest):
            # At most one write a minute per key and process, not one per request.
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
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


def forget_api_keys(**_: Any) -> None:
    """A key changed or was revoked here: stop trusting this process's recent keys at
    once (other processes follow within KEY_CACHE_SECONDS)."""
    _recent_keys.clear()
