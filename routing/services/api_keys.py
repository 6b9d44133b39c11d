"""API keys: created with a secret shown once, stored as a SHA-256 of the whole key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from routing.choices import ApiScope, ChangeSource
from routing.models import ApiKey
from routing.services.change_log import change_log_record, snapshot_of

KEY_PREFIX = "sb"
DEFAULT_SCOPES = (ApiScope.ROUTE.value, ApiScope.STATUS.value)


@dataclass(frozen=True)
class ApiKeyCreated:
    api_key: ApiKey
    plaintext: str


def api_key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_generate() -> tuple[str, str]:
    """A new (prefix, plaintext key) pair; the prefix is the visible part."""
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def api_key_create(
    *,
    name: str,
    default_agent: Any = None,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    created_by: Any = None,
    source: ChangeSource = ChangeSource.CLI,
) -> ApiKeyCreated:
    scopes = list(scopes)
    prefix, plaintext = api_key_generate()
    key = ApiKey(
        name=name,
        prefix=prefix,
        secret_hash=api_key_hash(plaintext),
        default_agent=default_agent,
        scopes=scopes,
        created_by=created_by,
    )
    key.full_clean()
    key.save()
    after = snapshot_of(key)
    assert after is not None
    after.pop("secret_hash", None)
    change_log_record(
        action="api_key.create",
        target_type="api_key",
        target_key=name,
        after=after,
        source=source,
        actor=created_by,
    )
    return ApiKeyCreated(api_key=key, plaintext=plaintext)
