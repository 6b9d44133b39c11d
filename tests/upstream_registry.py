"""A registry whose models live on the fake upstream, for tests over real HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from routing.choices import ModelType
from tests.factories import make_model

CLOUD_KEY_ENV = "FAKE_CLOUD_API_KEY"
CLOUD_KEY = "sk-test-cloud-key"


def add_model(registry: dict[str, Any], key: str, where: str, model_id: str, **fields: Any) -> Any:
    """A model on the fake's local (Ollama) or cloud (OpenAI) provider; faults go in the
    model id after '@' (see tests/fake_upstream.py)."""
    local = where == "local"
    defaults = {
        "type": ModelType.LOCAL if local else ModelType.CLOUD,
        "cost_input_per_1k": Decimal(0) if local else Decimal("0.01"),
        "cost_output_per_1k": Decimal(0) if local else Decimal("0.03"),
        "context_window": 32_000,
        "timeout_s": 2,
    }
    return make_model(key=key, provider=registry[where], model_id=model_id, **(defaults | fields))


def post(client: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("messages", [{"role": "user", "content": "hello there"}])
    return client.post("/api/route", json=body)
