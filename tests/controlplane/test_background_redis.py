"""The background Redis sender: when it wakes, batches (summed increments, per-write
values), bounded queue, outages, forks, flush, and the two writes the request path hands
it (the metrics event and the breaker reset).

Tests that send to Redis use database REDIS_DB of the server REDIS_URL names and are
skipped without REDIS_URL, as the other Redis tests are. The others only queue writes
that send no command, so they need no server.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.cache import cache

from controlplane.lib import background_redis, resilient_cache
from routing import metrics
from routing.execution import breaker

REDIS_DB = 11
DEAD_REDIS = f"redis://127.0.0.1:1/{REDIS_DB}"  # nothing listens on port 1
WAIT = 10.0  # seconds; only reached when something is broken

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (CI)")


def redis_url() -> str:
    """The server REDIS_URL names (the local one without it), database REDIS_DB."""
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


class Recorded:
    """A write that sends no command and notes which thread handled it."""

    def __init__(self, log: list[tuple[int, threading.Thread]], n: int) -> None:
        self.log, self.n = log, n

    def first(self, batch: background_redis.Batch) -> tuple[str, ...]:
        self.log.append((self.n, threading.current_thread()))
        return ()

    def then(self, values: dict[str, int], pipe: Any) -> None:
        return None


class Signalled:
    """A write that sends no command and says when it was handled."""

    def __init__(self) -> None:
        self.handled = threading.Event()
        self.at = 0.0

    def first(self, batch: background_redis.Batch) -> tuple[str, ...]:
        self.at = time.monotonic()
        self.handled.set()
        return ()

    def then(self, values: dict[str, int], pipe: Any) -> None:
        return None


class Gate:
    """The sender's test hook: holds the thread once it took a batch, before sending it."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self.released = threading.Event()

    def __call__(self) -> None:
        self.held.set()
        self.released.wait(WAIT)


@pytest.fixture(autouse=True)
def fresh_sender(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[None]:
    """Each test starts its own sender, with no drops counted yet."""
    monkeypatch.setattr(background_redis, "_sender", None)
    monkeypatch.setattr(background_redis, "_drops", background_redis._Drops())
    settings.REDIS_URL = redis_url()
    yield
    background_redis.flush(WAIT)
    resilient_cache.reset()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    hook = Gate()
    monkeypatch.setattr(background_redis, "_before_send", hook)
    yield hook
    hook.released.set()


@pytest.fixture
def redis_db(settings: Any) -> Iterator[Any]:
    """A raw client on the test database, emptied before and after."""
    import redis

    client = redis.Redis.from_url(redis_url())
    client.flushdb()
    yield client
    background_redis.flush(WAIT)
    client.flushdb()
    client.close()


@pytest.fixture
def redis_cache(settings: Any, redis_db: Any) -> None:
    """The default cache on the test database, built as settings build it with Redis."""
    settings.CACHES = {
        "default": {
            "BACKEND": "controlplane.lib.redis_cache.RedisCache",
            "LOCATION": redis_url(),
            "KEY_PREFIX": "switchboard",
        }
    }


def hold_first(gate: Gate, write: Any) -> None:
    """Submit `write` and wait until the sender holds it, so what follows piles up."""
    background_redis.submit(write)
    assert gate.held.wait(WAIT)


def test_a_full_queue_drops_writes_counts_them_and_warns_at_most_once_a_minute(
    gate: Gate, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    monkeypatch.setattr(background_redis, "_clock", lambda: now[0])
    handled: list[tuple[int, threading.Thread]] = []
    exported = background_redis.DROPPED._value.get()  # the /metrics counter
    hold_first(gate, Recorded(handled, 0))
    for n in range(1, background_redis.MAX_QUEUE + 1):
        background_redis.submit(Recorded(handled, n))

    with caplog.at_level(logging.WARNING, logger=background_redis.__name__):
        for n in range(3):
            background_redis.submit(Recorded(handled, -1 - n))  # the queue is full
        now[0] += 59
        background_redis.submit(Recorded(handled, -4))
        warned_within_the_minute = list(caplog.messages)
        now[0] += 1
        background_redis.submit(Recorded(handled, -5))

    assert background_redis.dropped() == 5
    assert background_redis.DROPPED._value.get() - exported == 5
    assert warned_within_the_minute == [
        "background Redis queue full (10000 writes): dropped 1 write(s) since the last warning"
    ]
    assert caplog.messages[1:] == [
        "background Redis queue full (10000 writes): dropped 4 write(s) since the last warning"
    ]
    gate.released.set()
    assert background_redis.flush(WAIT)
    assert [n for n, _ in handled] == list(range(background_redis.MAX_QUEUE + 1))


def test_flush_waits_for_what_was_submitted_before_it(gate: Gate) -> None:
    assert background_redis.flush(0)  # nothing submitted in this process yet
    handled: list[tuple[int, threading.Thread]] = []
    hold_first(gate, Recorded(handled, 1))
    background_redis.submit(Recorded(handled, 2))

    held = background_redis.flush(0.01)
    gate.released.set()
    released = background_redis.flush(WAIT)

    assert (held, released) == (False, True)
    assert [n for n, _ in handled] == [1, 2]


@pytest.fixture
def unstarted() -> Iterator[background_redis._Sender]:
    """This process's sender, with no thread: the test plays the thread's part."""
    sender = background_redis._Sender()
    background_redis._sender = sender  # fresh_sender's monkeypatch restores it
    yield sender
    background_redis._sender = None  # nothing to flush: no thread would answer


def test_a_write_wakes_the_sender_only_when_it_sleeps_for_want_of_work(
    unstarted: background_redis._Sender,
) -> None:
    handled: list[tuple[int, threading.Thread]] = []
    background_redis.submit(Recorded(handled, 1))
    busy = unstarted.wake.is_set()  # its timer will take the write: no wake-up per write

    unstarted.idle = True  # as the thread sets it before it sleeps without a timer
    background_redis.submit(Recorded(handled, 2))

    assert (busy, unstarted.wake.is_set()) == (False, True)
    assert unstarted.send_pending()
    assert [n for n, _ in handled] == [1, 2]
    assert not unstarted.send_pending()  # nothing left: the thread would go to sleep


def test_a_long_queue_wakes_the_sender_before_its_timer(
    unstarted: background_redis._Sender,
) -> None:
    handled: list[tuple[int, threading.Thread]] = []
    woken = []
    for n in range(background_redis.WAKE_AT):
        woken.append(unstarted.wake.is_set())
        background_redis.submit(Recorded(handled, n))

    assert woken == [False] * background_redis.WAKE_AT
    assert unstarted.wake.is_set()


def test_the_sender_does_not_sleep_on_a_write_queued_as_it_ran_out_of_work(
    unstarted: background_redis._Sender,
) -> None:
    handled: list[tuple[int, threading.Thread]] = []
    background_redis.submit(Recorded(handled, 1))  # after the batch, before `idle` is set

    sleeper = threading.Thread(target=unstarted._sleep, daemon=True)
    sleeper.start()
    sleeper.join(WAIT)  # returns at once instead of waiting for a wake-up
    asleep = sleeper.is_alive()
    unstarted.wake.set()  # let a broken one go

    assert (asleep, unstarted.idle) == (False, False)


def test_flush_wakes_the_sender_and_is_never_dropped(
    unstarted: background_redis._Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background_redis, "MAX_QUEUE", 1)
    handled: list[tuple[int, threading.Thread]] = []
    background_redis.submit(Recorded(handled, 1))
    background_redis.submit(Recorded(handled, 2))  # the queue is full

    flushed = background_redis.flush(0)

    assert (flushed, unstarted.wake.is_set()) == (False, True)
    assert len(unstarted.pending) == 2  # the write and the flush's marker
    assert background_redis.dropped() == 1


def test_without_a_flush_a_write_waits_one_interval_for_company_then_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(background_redis, "FLUSH_SECONDS", 0.05)
    write = Signalled()
    submitted = time.monotonic()
    background_redis.submit(write)  # starts the sender, whose timer then takes it

    assert write.handled.wait(WAIT)
    # Not sent on its own at once; at most an interval late (and a slow machine's slack).
    assert 0.05 * 0.9 <= write.at - submitted < WAIT


def test_a_forked_child_starts_a_sender_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    handled: list[tuple[int, threading.Thread]] = []
    background_redis.submit(Recorded(handled, 1))
    assert background_redis.flush(WAIT)
    parent = background_redis._sender
    assert parent is not None

    child_pid = os.getpid() + 1
    monkeypatch.setattr(background_redis.os, "getpid", lambda: child_pid)
    assert background_redis.flush(0)  # the child has submitted nothing yet
    background_redis.submit(Recorded(handled, 2))
    assert background_redis.flush(WAIT)

    child = background_redis._sender
    assert child is not None
    assert child is not parent
    assert (child.pid, child.thread.is_alive()) == (child_pid, True)
    assert child.thread is not parent.thread
    assert child.pending is not parent.pending
    thread_of = dict(handled)
    assert thread_of[2] is not thread_of[1]
    assert thread_of[2] is child.thread


def test_an_unexpected_error_is_logged_and_the_sender_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def first(self, batch: background_redis.Batch) -> tuple[str, ...]:
            raise RuntimeError("a bug in a write")

        def then(self, values: dict[str, int], pipe: Any) -> None:
            return None

    handled: list[tuple[int, threading.Thread]] = []
    with caplog.at_level(logging.ERROR, logger=background_redis.__name__):
        background_redis.submit(Broken())
        assert background_redis.flush(WAIT)
    background_redis.submit(Recorded(handled, 1))

    assert background_redis.flush(WAIT)
    assert [n for n, _ in handled] == [1]
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert caplog.messages == ["background Redis sender: a batch failed and was dropped"]


def test_a_redis_outage_never_reaches_the_caller_and_sending_resumes_after_the_retry_period(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REDIS_URL = DEAD_REDIS
    attempts = [{"model": "m", "outcome": "success", "reason": "", "latency_ms": 3}]

    with caplog.at_level(logging.WARNING):
        metrics.publish(model_used="m", latency_ms=3, attempts=attempts, now=datetime.now(UTC))
        assert background_redis.flush(WAIT)
    handled: list[tuple[int, threading.Thread]] = []
    background_redis.submit(Recorded(handled, 1))  # Redis is left alone meanwhile
    assert background_redis.flush(WAIT)
    skipped = list(handled)
    resilient_cache.reset()  # the retry period is over
    background_redis.submit(Recorded(handled, 2))
    assert background_redis.flush(WAIT)

    assert "cache unavailable (ConnectionError); skipping it for 30.0s" in caplog.messages
    assert skipped == []
    assert [n for n, _ in handled] == [2]
    assert background_redis._sender is not None
    assert background_redis._sender.thread.is_alive()


def test_without_redis_metrics_and_the_breaker_reset_stay_on_the_request_thread(
    settings: Any,
) -> None:
    settings.REDIS_URL = None
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    attempts = [
        {"model": "a", "outcome": "error", "reason": "http_5xx", "latency_ms": 5},
        {"model": "b", "outcome": "success", "reason": "", "latency_ms": 7},
    ]
    breaker.record_failure("a", datetime.now(UTC))
    breaker.record_success("a")
    metrics.publish(model_used="b", latency_ms=12, attempts=attempts, now=datetime.now(UTC))

    assert cache.get(breaker.FAILURES_KEY.format(model="a")) is None
    assert metrics.counters(["a", "b"]) == {
        "a": {"success": 0, "fallback": 1, "error": 0},
        "b": {"success": 1, "fallback": 0, "error": 0},
    }
    assert background_redis._sender is None


def _attempts(i: int, a: str, b: str) -> list[dict[str, Any]]:
    """Even requests: `a` fails, `b` answers. Odd ones: `a` answers."""
    if i % 2:
        return [{"model": a, "outcome": "success", "reason": "", "latency_ms": i}]
    return [
        {"model": a, "outcome": "error", "reason": "http_5xx", "latency_ms": i},
        {"model": b, "outcome": "success", "reason": "", "latency_ms": i},
    ]


def _events(subscriber: Any, model: str, count: int) -> list[dict[str, Any]]:
    """The next `count` events about `model` (other processes may publish too)."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        message = subscriber.get_message(timeout=WAIT)
        assert message is not None, f"only {len(events)} of {count} events arrived"
        if message["type"] == "message":
            event = json.loads(message["data"])
            if model in event["metrics"]:
                events.append(event)
    return events


def _key(model: str, outcome: str) -> str:
    return metrics.REDIS_COUNTER_KEY.format(model=model, outcome=outcome)


def _count_pipelines(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of commands of each pipeline the client executes from now on."""
    executed: list[int] = []
    make_pipeline = client.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        execute = pipe.execute

        def counted(*e_args: Any, **e_kwargs: Any) -> Any:
            executed.append(len(pipe))
            return execute(*e_args, **e_kwargs)

        pipe.execute = counted
        return pipe

    monkeypatch.setattr(client, "pipeline", counting_pipeline)
    return executed


@needs_redis
def test_a_batch_counts_each_key_once_and_each_event_shows_the_counters_right_after_it(
    gate: Gate, redis_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = f"a-{secrets.token_hex(4)}", f"b-{secrets.token_hex(4)}"
    executed = _count_pipelines(background_redis.client(), monkeypatch)
    subscriber = redis_db.pubsub()
    subscriber.subscribe(metrics.CHANNEL)
    assert subscriber.get_message(timeout=WAIT)["type"] == "subscribe"
    redis_db.set("stale", 1)
    redis_db.set(_key(a, "success"), 100)  # counted by other processes
    redis_db.set(_key(b, "error"), 7)
    n = 6
    now = datetime.now(UTC)

    hold_first(gate, background_redis.Delete("other"))
    background_redis.submit(background_redis.Delete("stale"))
    for i in range(n):
        metrics.publish(
            model_used=b if i % 2 == 0 else a, latency_ms=i, attempts=_attempts(i, a, b), now=now
        )
    background_redis.submit(background_redis.Delete("stale"))
    gate.released.set()
    assert background_redis.flush(WAIT)
    events = _events(subscriber, a, n)
    subscriber.close()

    # The held batch: its DEL alone. The next: one DEL of "stale" (asked twice), one
    # INCRBY per counter the six events touch, one MGET of their models' other
    # counters; then one PUBLISH per event.
    assert executed == [1, 1 + 3 + 1, n]
    assert redis_db.exists("stale") == 0
    assert [e["latency_ms"] for e in events] == list(range(n))
    assert all(
        set(e) == {"model_used", "latency_ms", "attempts", "metrics", "timestamp"} for e in events
    )
    assert [e["model_used"] for e in events] == [b, a] * (n // 2)
    assert events[0]["timestamp"] == now.timestamp()
    assert events[0]["attempts"] == _attempts(0, a, b)
    for i, event in enumerate(events):
        fails, answers = i // 2 + 1, (i + 1) // 2  # a's outcomes up to and including i
        expected = {a: {"success": 100 + answers, "fallback": fails, "error": 0}}
        if i % 2 == 0:
            expected[b] = {"success": fails, "fallback": 0, "error": 7}
        assert event["metrics"] == expected, i
    assert metrics.counters([a, b]) == {
        a: {"success": 100 + n // 2, "fallback": n // 2, "error": 0},
        b: {"success": n // 2, "fallback": 0, "error": 7},
    }


@needs_redis
def test_events_of_successive_batches_go_on_from_where_redis_was(redis_db: Any) -> None:
    model = f"m-{secrets.token_hex(4)}"
    attempts = [{"model": model, "outcome": "success", "reason": "", "latency_ms": 3}]
    subscriber = redis_db.pubsub()
    subscriber.subscribe(metrics.CHANNEL)
    assert subscriber.get_message(timeout=WAIT)["type"] == "subscribe"

    metrics.publish(model_used=model, latency_ms=1, attempts=attempts, now=datetime.now(UTC))
    assert background_redis.flush(WAIT)
    redis_db.incrby(_key(model, "success"), 10)  # another process, between two batches
    for latency in (2, 3):
        metrics.publish(
            model_used=model, latency_ms=latency, attempts=attempts, now=datetime.now(UTC)
        )
    assert background_redis.flush(WAIT)
    events = _events(subscriber, model, 3)
    subscriber.close()

    assert [(e["latency_ms"], e["metrics"][model]["success"]) for e in events] == [
        (1, 1),
        (2, 12),
        (3, 13),
    ]


@needs_redis
def test_an_event_whose_counter_fails_is_not_published_and_the_rest_of_its_batch_is(
    gate: Gate, redis_db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bad, good = f"bad-{secrets.token_hex(4)}", f"good-{secrets.token_hex(4)}"
    redis_db.rpush(_key(bad, "success"), "not a counter")
    subscriber = redis_db.pubsub()
    subscriber.subscribe(metrics.CHANNEL)
    assert subscriber.get_message(timeout=WAIT)["type"] == "subscribe"

    hold_first(gate, background_redis.Delete("other"))
    with caplog.at_level(logging.WARNING, logger=background_redis.__name__):
        for model in (bad, good):
            attempts = [{"model": model, "outcome": "success", "reason": "", "latency_ms": 3}]
            metrics.publish(
                model_used=model, latency_ms=3, attempts=attempts, now=datetime.now(UTC)
            )
        gate.released.set()
        assert background_redis.flush(WAIT)
    seen: list[dict[str, Any]] = []
    while not any(good in e["metrics"] for e in seen):  # bad's would have come first
        message = subscriber.get_message(timeout=WAIT)
        assert message is not None
        if message["type"] == "message":
            seen.append(json.loads(message["data"]))
    subscriber.close()

    assert not any(bad in e["metrics"] for e in seen)
    assert caplog.messages == ["background Redis sender: 1 command(s) failed (ResponseError)"]
    assert metrics.counters([good]) == {good: {"success": 1, "fallback": 0, "error": 0}}


@needs_redis
def test_sending_resumes_once_redis_is_back(settings: Any, redis_db: Any) -> None:
    model = f"m-{secrets.token_hex(4)}"
    attempts = [{"model": model, "outcome": "success", "reason": "", "latency_ms": 3}]
    settings.REDIS_URL = DEAD_REDIS
    metrics.publish(model_used=model, latency_ms=3, attempts=attempts, now=datetime.now(UTC))
    assert background_redis.flush(WAIT)
    assert not resilient_cache.cache_available()

    settings.REDIS_URL = redis_url()
    resilient_cache.reset()  # the retry period is over
    metrics.publish(model_used=model, latency_ms=3, attempts=attempts, now=datetime.now(UTC))
    assert background_redis.flush(WAIT)

    assert metrics.counters([model]) == {model: {"success": 1, "fallback": 0, "error": 0}}


@needs_redis
def test_the_breaker_reset_deletes_the_very_key_the_cache_wrote(
    gate: Gate, redis_cache: None, redis_db: Any
) -> None:
    key = breaker.FAILURES_KEY.format(model="flaky")
    breaker.record_failure("flaky", datetime.now(UTC))
    breaker.record_failure("flaky", datetime.now(UTC))
    raw = cache.make_and_validate_key(key)
    assert raw.startswith("switchboard:")
    assert redis_db.exists(raw) == 1

    breaker.record_success("flaky")
    assert gate.held.wait(WAIT)
    pending = cache.get(key)  # the reset is the sender's, not the request thread's
    gate.released.set()
    assert background_redis.flush(WAIT)

    assert pending == 2
    assert cache.get(key) is None
    assert redis_db.exists(raw) == 0
