"""The response cache and hedged requests (the performance_optimized strategy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from routing.models import Decision, RoutingSettings, SpendLedger, Strategy
from tests.upstream_registry import add_model, post

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def performance(registry: dict[str, Any]) -> dict[str, Any]:
    strategy = Strategy.objects.create(
        key="performance_optimized", prefer_cloud=True, parallel_requests=True, cache_responses=True
    )
    RoutingSettings.objects.create(default_strategy=strategy)
    return registry


def test_an_identical_request_is_answered_from_the_cache_at_no_cost(
    performance, client, upstream
) -> None:
    add_model(performance, "cloud-a", "cloud", "gpt-4o@text=fresh")

    first = post(client).json()
    upstream.reset()
    second = post(client).json()

    assert (first["cached"], second["cached"]) == (False, True)
    assert second["raw_text"] == "fresh"
    assert second["cost_usd"] == 0
    assert second["attempts"][0]["reason"] == "cache hit"
    assert upstream.requests == []
    rows = {str(d.public_id): d for d in Decision.objects.all()}
    assert rows[second["decision_id"]].cached is True
    assert (
        SpendLedger.objects.get(scope="global", period="day").cost_usd
        == rows[first["decision_id"]].cost_usd
    )


def test_a_different_parameter_or_an_opt_out_misses_the_cache(
    performance, client, upstream
) -> None:
    add_model(performance, "cloud-a", "cloud", "gpt-4o")

    post(client)
    other_temperature = post(client, temperature=0.3).json()
    opted_out = post(client, cache=False).json()

    assert other_temperature["cached"] is False
    assert opted_out["cached"] is False


def test_a_strategy_without_cache_responses_never_caches(registry, client) -> None:
    add_model(registry, "local-a", "local", "llama3")

    post(client)

    assert post(client).json()["cached"] is False


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs Redis (CI): the cache is shared there"
)
def test_the_cache_is_shared_with_another_process(performance, client, upstream) -> None:
    add_model(performance, "cloud-a", "cloud", "gpt-4o@text=from+process+one")
    post(client)
    # A second process, on the same Redis, asks the cache what this one stored.
    script = (
        "import django, os, json; django.setup();"
        "from routing.execution import response_cache;"
        "hit = response_cache.lookup(['cloud-a'], [{'role': 'user', 'content': 'hello there'}],"
        " {'schema': None, 'max_tokens': None, 'temperature': None});"
        "print(json.dumps(hit))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "controlplane.settings", "DEBUG": "true"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert '"from process one"' in out.stdout


def test_hedging_takes_the_faster_valid_answer_and_records_both(
    performance, client, upstream
) -> None:
    add_model(performance, "cloud-slow", "cloud", "gpt-4o@slow=1.5,text=slow", timeout_s=5)
    add_model(performance, "cloud-fast", "cloud", "gpt-4o-mini@text=fast", timeout_s=5)

    body = post(client, cache=False, task={"complexity": "critical"}).json()

    assert body["model_used"] == "cloud-fast"
    assert body["raw_text"] == "fast"
    reasons = {a["model"]: a["reason"] for a in body["attempts"]}
    assert reasons["cloud-fast"] == "won the hedge"
    assert "lost the hedge" in reasons["cloud-slow"]
    assert {r.model for r in upstream.requests} == {
        "gpt-4o@slow=1.5,text=slow",
        "gpt-4o-mini@text=fast",
    }


def test_a_hedge_whose_first_answer_is_invalid_waits_for_the_other(performance, client) -> None:
    add_model(performance, "cloud-refuses", "cloud", "gpt-4o@refuse", timeout_s=5)
    add_model(performance, "cloud-slow-ok", "cloud", "gpt-4o-mini@slow=0.3,text=ok", timeout_s=5)

    body = post(client, cache=False, task={"complexity": "critical"}).json()

    assert body["model_used"] == "cloud-slow-ok"
    assert any(
        a["model"] == "cloud-refuses" and a["outcome"] == "rejected" for a in body["attempts"]
    )
