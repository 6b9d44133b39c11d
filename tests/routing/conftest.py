"""Fixtures for the tests that cross a network: the fake upstream and a registry on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from routing.choices import ProviderKind, Tier
from routing.services import api_key_create
from tests.factories import make_provider, make_strategy
from tests.fake_upstream import FakeUpstream
from tests.upstream_registry import CLOUD_KEY, CLOUD_KEY_ENV


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def registry(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A local Ollama-style provider and a cloud OpenAI-style one, both on the fake."""
    monkeypatch.setenv(CLOUD_KEY_ENV, CLOUD_KEY)
    upstream.reset()
    local = make_provider(
        name="fake-ollama", kind=ProviderKind.OLLAMA, tier=Tier.LOCAL, base_url=upstream.url
    )
    cloud = make_provider(
        name="fake-openai",
        kind=ProviderKind.OPENAI_COMPATIBLE,
        tier=Tier.PREMIUM,
        base_url=f"{upstream.url}/v1",
        api_key_env=CLOUD_KEY_ENV,
        timeout_s=2,
    )
    make_strategy(key="balanced", cloud_for_complex_tasks=True, local_for_routine_tasks=True)
    return {"local": local, "cloud": cloud}


@pytest.fixture
def client(live_server: Any, db: None) -> Iterator[httpx.Client]:
    """An httpx client with a service API key, against Switchboard on a live server."""
    key = api_key_create(name="svc").plaintext
    with httpx.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as c:
        yield c
