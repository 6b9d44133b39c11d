"""Helpers for the dashboard page tests: a logged-in Django test client per role, and
the bits of a response those tests read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from tests.factories import make_user

# The role fixtures of tests/conftest.py, by the role name a test parametrizes over.
ROLE_FIXTURES = {
    "viewer": "viewer_user",
    "operator": "operator_user",
    "admin": "admin_role_user",
    "superuser": "admin_user",
}


def logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def client_for_role(request: pytest.FixtureRequest) -> Callable[[str], Client]:
    """`make("viewer")` -> a client logged in with that role ("none": a user without one)."""

    def make(name: str) -> Client:
        if name == "none":
            return logged_in(make_user(role=None))
        return logged_in(request.getfixturevalue(ROLE_FIXTURES[name]))

    return make


def html(response: Any) -> str:
    return response.content.decode()


def vary(response: Any) -> set[str]:
    return {v.strip().lower() for v in response.get("Vary", "").split(",")}
