"""State shared across processes (issue #8): two granian web processes (A and B) and a
Celery worker on 127.0.0.1, against the test database on PostgreSQL and one Redis
database, with the models on the fake upstream.

- A cooldown learned by A (a 429 with Retry-After) is respected by B.
- Budgets: concurrent requests on both processes overspend by no more than the
  requests in flight when the budget ran out, and every cent is in the ledger once.
- An override set through A applies in B within a second.
- The worker, fed through the Redis broker, records an override's expiry in the
  database the web processes use.

Each test commits its data (transactional_db) so the processes see it, and starts from
a configuration version no earlier test used: the processes outlive each test's
database contents, and a real database never hands out a version twice.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis
from celery import Celery
from django.conf import global_settings
from django.utils import timezone

from routing.api import errors
from routing.choices import BudgetScope, ChangeSource, ProviderKind, Tier
from routing.models import ChangeLogEntry, ConfigRevision, Decision, SpendLedger, StrategyOverride
from routing.services import api_key_create
from routing.services.overrides import EXPIRED_LABEL, GLOBAL_TARGET
from routing.snapshot import CONFIG_VERSION_TTL
from tests.factories import make_budget, make_provider, make_strategy, make_user
from tests.fake_upstream import FakeUpstream
from tests.integration.processes import WEB_THREADS, Process, Stack, wait_until
from tests.upstream_registry import CLOUD_KEY_ENV, add_model

VERSIONS = itertools.count(1_000_000, 1_000_000)
PASSWORD = "integration-password"
# How late B may apply an override beyond CONFIG_VERSION_TTL: B answers the poll that
# shows it (one dry run, tens of ms on a busy 2-core CI machine) and polls every 20 ms.
PROPAGATION_MARGIN_S = 0.5
BUDGET = Decimal("2.00")  # about 40 requests of cloud-a below
CLIENT_THREADS = 2 * WEB_THREADS  # enough to keep every thread of A and B busy


@dataclass
class Shared:
    """One test's view of the running processes: its API key and its registry."""

    stack: Stack
    fake: FakeUpstream
    registry: dict[str, Any]
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def route(self, process: Process, **body: Any) -> httpx.Response:
        body.setdefault("messages", [{"role": "user", "content": "hello there"}])
        return httpx.post(f"{process.url}/api/route", json=body, headers=self.auth, timeout=30)

    def decided(self, process: Process) -> dict[str, Any]:
        """A dry run's decision: what the process would do now."""
        response = self.route(process, dry_run=True)
        assert response.status_code == 200, response.text
        return response.json()["decision"]

    def publish_config(self) -> int:
        """Give the data this test created a new configuration version, and wait until
        both processes route with it."""
        version = next(VERSIONS)
        ConfigRevision.objects.update_or_create(pk=1, defaults={"version": version})
        for process in (self.stack.a, self.stack.b):

            def loaded(process: Process = process) -> bool:
                return self.decided(process)["config_version"] == version

            wait_until(loaded, timeout=10, what=f"{process.name} to load config v{version}")
        return version


@pytest.fixture
def shared(transactional_db: None, stack: Stack, fake: FakeUpstream) -> Shared:
    stack.check_running()
    # Cooldowns, breaker counts and cached answers of an earlier test must not leak in;
    # the broker's keys (Celery's queue bindings) stay.
    cache = redis.Redis.from_url(stack.redis_url)
    stale = list(cache.scan_iter(match="switchboard:*"))
    if stale:
        cache.delete(*stale)
    cache.close()
    fake.reset()
    registry = {
        "local": make_provider(
            name="fake-ollama", kind=ProviderKind.OLLAMA, tier=Tier.LOCAL, base_url=fake.url
        ),
        "cloud": make_provider(
            name="fake-openai",
            kind=ProviderKind.OPENAI_COMPATIBLE,
            tier=Tier.PREMIUM,
            base_url=f"{fake.url}/v1",
            api_key_env=CLOUD_KEY_ENV,
            timeout_s=2,
        ),
    }
    return Shared(stack, fake, registry, api_key_create(name="integration").plaintext)


@pytest.fixture
def operator(settings: Any, shared: Shared) -> Any:
    """An operator whose password the processes can check: they run with Django's
    hashers, not the tests' fast MD5 one."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    return make_user(role="operator", password=PASSWORD)


@contextlib.contextmanager
def logged_in(process: Process, username: str) -> Iterator[httpx.Client]:
    """A browser-like session on `process`: the login form, then CSRF on every write."""
    with httpx.Client(base_url=process.url, timeout=30) as session:
        session.get("/accounts/login/").raise_for_status()
        response = session.post(
            "/accounts/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
        )
        assert response.status_code == 302, response.text
        session.headers["X-CSRFToken"] = session.cookies["csrftoken"]  # rotated at login
        yield session


# -- cooldowns ----------------------------------------------------------------------------------

# First in the module, before the burst of requests below: a process that times out on Redis
# under load leaves it alone for 30 s (controlplane.lib.resilient_cache), and this test is
# about what Redis shares.


def test_a_cooldown_learned_by_one_process_is_respected_by_the_other(shared: Shared) -> None:
    add_model(shared.registry, "local-a", "local", "llama3@status=429,retry_after=30")
    add_model(shared.registry, "local-b", "local", "qwen")
    shared.publish_config()
    a, b = shared.stack.a, shared.stack.b

    first = shared.route(a).json()

    assert first["model_used"] == "local-b", first
    assert first["attempts"][0]["model"] == "local-a"
    assert "rate limited (429)" in first["attempts"][0]["reason"]
    cache = redis.Redis.from_url(shared.stack.redis_url)
    assert list(cache.scan_iter(match="switchboard:*routing:cooldown:local-a")), "not in Redis"
    cache.close()

    shared.fake.reset()
    answers = [shared.route(b).json() for _ in range(3)]

    assert [r.model for r in shared.fake.requests if r.path == "/api/chat"] == ["qwen"] * 3
    for answer in answers:
        assert answer["model_used"] == "local-b", answer
        assert [attempt["model"] for attempt in answer["attempts"]] == ["local-b"]
        row = Decision.objects.get(public_id=answer["decision_id"])
        assert row.chain == ["local-b"]
        dropped = {e["model"]: e for e in row.trace["eliminated"]}
        assert dropped["local-a"]["reason"] == "cooling down", dropped


# -- budgets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    process: str
    started: float  # wall clock (time.time()), like the servers' timestamps
    ended: float
    status: int
    body: dict[str, Any]

    @property
    def decision_id(self) -> str:
        return self.body.get("decision_id") or self.body["error"]["decision_id"]


def burst(shared: Shared, body: dict[str, Any], *, requests: int) -> list[Call]:
    """`requests` POST /api/route, alternately to A and B, from CLIENT_THREADS threads."""
    processes = (shared.stack.a, shared.stack.b)
    limits = httpx.Limits(max_connections=CLIENT_THREADS)
    clients = [
        httpx.Client(base_url=p.url, headers=shared.auth, timeout=30, limits=limits)
        for p in processes
    ]

    def one(index: int) -> Call:
        started = time.time()
        response = clients[index % 2].post("/api/route", json=body)
        ended = time.time()
        return Call(
            processes[index % 2].name, started, ended, response.status_code, response.json()
        )

    try:
        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            return list(pool.map(one, range(requests)))
    finally:
        for client in clients:
            client.close()


def _decided_at(row: Decision) -> float:
    return datetime.fromisoformat(row.trace["inputs"]["now"]).timestamp()


def _global_spend_seen(row: Decision) -> Decimal:
    """The global daily spend the engine read before deciding this request."""
    for scope, target, period, value in row.trace["inputs"]["state"]["spend"]:
        if (scope, target, period) == ("global", "", "day"):
            return Decimal(str(value))
    return Decimal(0)


def test_concurrent_requests_on_two_processes_overspend_only_by_those_in_flight(
    shared: Shared,
) -> None:
    add_model(shared.registry, "cloud-a", "cloud", "gpt-4o", cost_input_per_1k=Decimal("0.5"))
    make_budget(scope=BudgetScope.GLOBAL, limit_usd=BUDGET, warning_threshold=1.0)
    shared.publish_config()
    body = {
        "messages": [{"role": "user", "content": "x" * 400}],
        "task": {"complexity": "critical"},
    }

    calls = burst(shared, body, requests=120)

    rows = {str(row.public_id): row for row in Decision.objects.exclude(outcome="dry_run")}
    assert sorted(c.decision_id for c in calls) == sorted(rows)  # one audit row each
    statuses = Counter(c.status for c in calls)
    assert set(statuses) == {200, 429}, statuses
    assert all(c.body["error"]["code"] == errors.BUDGET_EXCEEDED for c in calls if c.status == 429)
    paid = [rows[c.decision_id] for c in calls if c.status == 200]
    assert {c.process for c in calls if c.status == 200} == {"web-a", "web-b"}
    per_request = {row.cost_usd for row in paid}
    assert len(per_request) == 1, per_request
    cost = per_request.pop()

    # Nothing lost, nothing counted twice: the ledger is the sum of the audit rows.
    ledger = SpendLedger.objects.get(scope="global", period="day").cost_usd
    assert ledger == sum((r.cost_usd + r.fallback_tax_usd for r in rows.values()), Decimal(0))
    assert ledger >= BUDGET  # it did run out

    # The last paid request to be decided saw the spend of `committed` requests; every
    # other paid request was decided before it and not yet committed, so it was in
    # flight then, as the clients saw it (a response leaves after its commit).
    last = max(paid, key=_decided_at)
    decided_at = _decided_at(last)
    committed = int((_global_spend_seen(last) / cost).to_integral_value())
    in_flight = sum(1 for c in calls if c.started <= decided_at <= c.ended)
    print(
        f"\n{len(paid)} paid of {len(calls)} (cost ${cost} each, budget ${BUDGET}); "
        f"spent ${ledger}; the last paid decision saw {committed} committed, "
        f"{in_flight} requests were in flight then"
    )
    assert len(paid) - committed <= in_flight
    assert ledger - BUDGET <= in_flight * cost

    # Afterwards both processes refuse: the exhausted budget is shared.
    for process in (shared.stack.a, shared.stack.b):
        after = shared.route(process, **body)
        assert after.status_code == 429, after.text
        assert after.json()["error"]["code"] == errors.BUDGET_EXCEEDED


# -- overrides ----------------------------------------------------------------------------------


def test_an_override_set_through_one_process_applies_in_the_other_within_a_second(
    shared: Shared, operator: Any
) -> None:
    add_model(shared.registry, "local-a", "local", "llama3")
    make_strategy(key="balanced")
    make_strategy(key="cost_optimized")
    shared.publish_config()
    a, b = shared.stack.a, shared.stack.b
    # B has just checked the version: it keeps its snapshot for up to CONFIG_VERSION_TTL.
    assert shared.decided(b)["strategy"] == "balanced"

    with logged_in(a, operator.username) as session:
        response = session.post(
            "/api/routing/strategy",
            json={"strategy": "cost_optimized", "duration": "1h", "reason": "multi-process"},
        )
        set_at = time.monotonic()
    assert response.status_code == 201, response.text
    assert shared.decided(a)["strategy"] == "cost_optimized"  # at once where it was set

    def b_applies() -> float | None:
        decision = shared.decided(b)
        if decision["strategy"] != "cost_optimized":
            return None
        assert decision["strategy_source"].startswith("global override")
        return time.monotonic()

    delay = (
        wait_until(b_applies, timeout=10, what="B to apply the override", interval=0.02) - set_at
    )
    print(f"\nB applied the override {delay * 1000:.0f} ms after A committed it")
    assert delay <= CONFIG_VERSION_TTL + PROPAGATION_MARGIN_S


# -- the worker -------------------------------------------------------------------------------


def test_the_worker_records_an_expired_override_in_the_shared_database(
    shared: Shared, operator: Any
) -> None:
    add_model(shared.registry, "local-a", "local", "llama3")
    make_strategy(key="balanced")
    make_strategy(key="cost_optimized")
    shared.publish_config()
    with logged_in(shared.stack.a, operator.username) as session:
        response = session.post(
            "/api/routing/strategy",
            json={"strategy": "cost_optimized", "duration": "1s", "reason": "short"},
        )
    assert response.status_code == 201, response.text
    override = StrategyOverride.objects.get()
    wait_until(
        lambda: timezone.now() > override.expires_at, timeout=5, what="the override's expiry"
    )
    # It stopped applying at its expiry by itself; that it ended is not recorded yet.
    assert shared.decided(shared.stack.b)["strategy"] == "balanced"
    assert not ChangeLogEntry.objects.filter(action="strategy_override.expire").exists()

    sender = Celery("integration-sender", broker=shared.stack.redis_url, set_as_current=False)
    try:
        sender.send_task("routing.tasks.expire_overrides")
    finally:
        sender.close()

    entry = wait_until(
        lambda: ChangeLogEntry.objects.filter(action="strategy_override.expire").first(),
        timeout=30,
        what="the worker to record the override's end",
        interval=0.1,
    )
    assert entry.source == ChangeSource.SYSTEM
    assert entry.target_key == GLOBAL_TARGET
    ended = StrategyOverride.objects.get(pk=override.pk)
    assert ended.ended_at == override.expires_at
    assert ended.ended_by_label == EXPIRED_LABEL
    assert "routing.tasks.expire_overrides" in shared.stack.worker.log_tail()


# -- streams through the production server (granian) -------------------------------------------


def test_granian_sends_each_chunk_as_it_comes_and_a_client_that_leaves_still_gets_its_row(
    shared: Shared,
) -> None:
    """The SSE stream is not buffered by the server (the chunks arrive as apart as the
    model sends them), and when the client hangs up mid-stream the server notices at
    its next write, the stream's generator is closed, and the audit row is written."""
    add_model(shared.registry, "local-slow", "local", "llama3@chunks=40,gap=0.1")
    shared.publish_config()
    body = {
        "model": "local-slow",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": True,
    }
    arrivals: list[float] = []

    with httpx.stream(
        "POST",
        f"{shared.stack.a.url}/v1/chat/completions",
        json=body,
        headers=shared.auth,
        timeout=20,
    ) as response:
        assert response.status_code == 200
        decision_id = response.headers["X-Switchboard-Decision-Id"]
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content"' in line:
                arrivals.append(time.monotonic())
                if len(arrivals) == 4:
                    break  # leave mid-stream: dozens of chunks are still to come

    # At least two of the model's 0.1 s gaps lie between the first and the fourth.
    assert arrivals[3] - arrivals[0] >= 0.15, "the chunks came together: the server buffered"

    def recorded() -> bool:
        return Decision.objects.filter(public_id=decision_id).exists()

    wait_until(recorded, timeout=10, what="the audit row of the abandoned stream")
    row = Decision.objects.get(public_id=decision_id)
    assert row.attempts[-1]["model"] == "local-slow"
    assert row.attempts[-1]["reason"] == "client disconnected mid-stream"
