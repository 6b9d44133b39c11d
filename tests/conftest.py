"""Settings for fast tests, and the actors tests act as.

`admin_user` and `admin_client` come from pytest-django.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from controlplane.lib import background_redis, resilient_cache
from routing.api.auth import _recent_keys
from routing.services import ApiKeyCreated, api_key_create
from routing.snapshot import clear_snapshot_cache
from tests.factories import make_user


@pytest.fixture(autouse=True, scope="session")
def _eager_celery() -> Iterator[None]:
    # Tasks run in-process in tests, also when REDIS_URL (the broker in CI) is set; the
    # multi-process tests start a real worker of their own.
    from controlplane.celery import app

    eager, propagates = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = eager, propagates


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    # The default PBKDF2 hasher costs ~100ms per user created or logged in.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    # Each test's database starts over, so config versions repeat: never reuse a
    # snapshot or a cooldown from another test.
    clear_snapshot_cache()
    resilient_cache.reset()
    _recent_keys.clear()
    cache.clear()
    yield
    # A queued metrics event or breaker reset must not land in the next test's cache.
    background_redis.flush(5)
    clear_snapshot_cache()
    resilient_cache.reset()


@pytest.fixture
def admin_role_user(db: None) -> Any:
    """An admin by role (the group), not a superuser."""
    return make_user(role="admin", username="admin-role")


@pytest.fixture
def operator_user(db: None) -> Any:
    return make_user(role="operator", username="operator")


@pytest.fixture
def viewer_user(db: None) -> Any:
    return make_user(role="viewer", username="viewer")


@pytest.fixture
def service_key(db: None) -> ApiKeyCreated:
    return api_key_create(name="service")
