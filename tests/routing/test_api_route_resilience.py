"""The route path under stress: concurrent spend in PostgreSQL, a Redis outage, the
circuit breaker, cloud verification, the metrics event."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.db import connection

from controlplane.lib import background_redis
from routing.choices import BudgetScope
from routing.metrics import CHANNEL
from routing.models import Decision, SpendLedger
from routing.services import api_key_create
from tests.factories import make_budget, make_rule
from tests.upstream_registry import add_model, post

pytestmark = pytest.mark.django_db(transaction=True)

needs_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="needs PostgreSQL (CI)"
)
needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (CI)")


@pytest.fixture(autouse=True)
def _background_writes_sent(settings: Any) -> Iterator[None]:
    yield
    # Metrics events and breaker resets are sent by a background thread: let this test's
    # land now, under its own settings, not in the next test's fresh cache.
    background_redis.flush(5)


@needs_postgres
def test_concurrent_requests_never_lose_a_spend_increment_or_overspend_beyond_those_in_flight(
    registry, live_server
) -> None:
    add_model(registry, "cloud-a", "cloud", "gpt-4o", cost_input_per_1k=Decimal("0.5"))
    make_budget(scope=BudgetScope.GLOBAL, limit_usd=Decimal("2.00"), warning_threshold=1.0)
    key = api_key_create(name="load").plaintext
    body = {
        "messages": [{"role": "user", "content": "x" * 400}],
        "task": {"complexity": "critical"},
    }
    workers, requests = 16, 64

    def one(_: int) -> int:
        with httpx.Client(
            base_url=live_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            return c.post("/api/route", json=body).status_code

    with ThreadPoolExecutor(workers) as pool:
        codes = list(pool.map(one, range(requests)))

    answered = [d for d in Decision.objects.filter(outcome="success")]
    total = sum((d.cost_usd + d.fallback_tax_usd for d in answered), Decimal(0))
    ledger = SpendLedger.objects.get(scope="global", period="day").cost_usd
    assert ledger == total  # every increment counted, none twice
    assert Decision.objects.count() == requests  # one audit row per request
    assert set(codes) <= {200, 429}
    per_request = max(d.cost_usd for d in answered)
    # Spend stops once the budget is seen exhausted; only requests already in flight
    # (at most one per worker) can add to it after that.
    assert ledger <= Decimal("2.00") + per_request * workers
    assert codes.count(429) > 0


def test_a_redis_outage_never_fails_a_request(registry, client, settings) -> None:
    add_model(registry, "local-a", "local", "llama3@status=429,retry_after=5")
    add_model(registry, "local-b", "local", "qwen")
    dead = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = dead
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": dead,
            "OPTIONS": {"socket_timeout": 0.05, "socket_connect_timeout": 0.05},
        }
    }

    responses = [post(client) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(r.json()["model_used"] == "local-b" for r in responses)
    assert Decision.objects.count() == 3


def test_consecutive_failures_open_the_circuit_for_a_while(
    registry, client, upstream, settings
) -> None:
    settings.SWITCHBOARD_CIRCUIT_FAILURES = 2
    add_model(registry, "local-a", "local", "llama3@status=500")
    add_model(registry, "local-b", "local", "qwen")

    post(client)
    second = post(client).json()
    upstream.reset()
    third = post(client).json()

    assert "circuit open" in second["attempts"][0]["reason"]
    assert "local-a" not in third["decision"]["chain"]
    assert [r.model for r in upstream.requests] == ["qwen"]


def test_a_critical_local_answer_is_checked_by_a_cloud_model_and_replaced_when_rejected(
    registry, client, upstream
) -> None:
    local = add_model(registry, "local-a", "local", "llama3@text=Probably+fine")
    add_model(registry, "cloud-a", "cloud", "gpt-4o@text=REJECT+wrong")
    make_rule(
        name="quality_assurance",
        condition="task.critical and model.type == 'local'",
        action="require_cloud_verification",
    )
    # Critical work would go to the cloud first; pin the local model to exercise the check.
    make_rule(name="local_first", condition="true", action="use_model", model=local, position=1)

    body = post(client, task={"classification": "critical"}).json()

    assert body["verification"]["verdict"] == "reject"
    assert body["verification"]["model"] == "cloud-a"
    assert body["model_used"] == "cloud-a"
    outcomes = [(a["model"], a["outcome"]) for a in body["attempts"]]
    assert outcomes[0] == ("local-a", "rejected")


@needs_redis
def test_every_request_publishes_a_metrics_event(registry, client) -> None:
    import redis

    add_model(registry, "local-a", "local", "llama3@status=500")
    add_model(registry, "local-b", "local", "qwen")
    subscriber = redis.Redis.from_url(os.environ["REDIS_URL"]).pubsub()
    subscriber.subscribe(CHANNEL)
    subscriber.get_message(timeout=1)  # the subscribe confirmation
    received: list[dict[str, Any]] = []
    done = threading.Event()

    def listen() -> None:
        # The channel is the server's, not the database's: skip other processes' events.
        deadline = time.monotonic() + 5
        message = subscriber.get_message(timeout=5)
        while message is not None and time.monotonic() < deadline:
            if message["type"] == "message":
                event = json.loads(message["data"])
                if "local-a" in event["metrics"]:
                    received.append(event)
                    break
            message = subscriber.get_message(timeout=5)
        done.set()

    thread = threading.Thread(target=listen)
    thread.start()
    post(client)
    assert background_redis.flush(5)  # the event is sent by the background thread
    done.wait(10)
    thread.join(1)
    subscriber.close()

    assert received, "no event on the channel"
    event = received[0]
    assert event["model_used"] == "local-b"
    assert [a["model"] for a in event["attempts"]] == ["local-a", "local-b"]
    assert event["metrics"]["local-a"]["fallback"] >= 1
    assert set(event) == {"model_used", "latency_ms", "attempts", "metrics", "timestamp"}


def test_refusal_phrases_are_configurable(registry, client, settings) -> None:
    settings.SWITCHBOARD_REFUSAL_PATTERNS = ["out of scope"]
    add_model(registry, "local-a", "local", "llama3@text=That+is+out+of+scope")
    add_model(registry, "local-b", "local", "qwen@refuse")

    body = post(client).json()

    assert body["attempts"][0]["outcome"] == "rejected"
    assert "out of scope" in body["attempts"][0]["reason"]
    assert body["model_used"] == "local-b"  # "I cannot" is no longer a refusal


def test_connection_is_postgres_when_ci_says_so() -> None:
    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected
