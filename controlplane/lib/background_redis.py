"""Fire-and-forget Redis writes, sent in batches by one background thread per process.

The request path publishes a metrics event and resets a circuit-breaker count after
every call. Their results never change a response, so they need not cost the request a
Redis round trip: the request thread appends a `Write` to a bounded queue and returns;
this module's thread sends them.

What each write costs is mostly not Redis but waking a thread (tens of microseconds of
CPU on a virtual machine, on both threads) and redis-py's per-command overhead. So the
sender is woken per batch, not per write, and a batch sends few commands:

- request thread: `submit()` appends to a deque (no lock, no wake-up). When the
  queue holds MAX_QUEUE writes the write is dropped and counted (exported at /metrics,
  with a warning at most once a minute). It wakes the sender only when the sender
  sleeps for want of work (once per burst of traffic, not per write) or when WAKE_AT
  writes are waiting.
- sender thread (one per process, a daemon, started on the first submit and again in a
  forked child, whose copy of the parent's thread does not run): while writes keep
  coming it wakes every FLUSH_SECONDS and sends everything queued by then. So a write
  reaches Redis at most FLUSH_SECONDS (plus the time to send the batch before it) after
  it was submitted. After an interval with nothing to send it sleeps until a submit
  wakes it (and sends that write at once), so an idle process costs nothing.
- a batch is two round trips. The first pipeline holds every DEL, one INCRBY per
  counter key with the sum of the batch's increments of it, and one MGET of the other
  keys the writes read. Each write then gets the values of the keys it read as they
  were right after its own increments (the reply minus what later writes of the batch
  added: the same numbers as an INCR and MGET per write, as far as this process can
  know) and queues its follow-ups (PUBLISH) on the second pipeline.
- Redis failures go through controlplane.lib.resilient_cache (Redis is then left alone
  for a while, by this thread and by the request path alike); a batch that fails is
  dropped. Nothing else can stop the thread: an unexpected error is logged and the
  next batch goes on.
- `flush()` waits until what was submitted before it has been sent (tests, shutdown);
  an atexit hook flushes briefly so a worker that exits gracefully sends its last writes.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from prometheus_client import Counter

from controlplane.lib.resilient_cache import cache_available, cache_call

logger = logging.getLogger(__name__)

MAX_QUEUE = 10_000
# How long a write may wait for others to share its batch. Longer means fewer wake-ups
# and round trips per write; dashboards and subscribers see events this much later.
FLUSH_SECONDS = 0.05
# A queue this long is sent at once, so a burst never waits to fill the queue.
WAKE_AT = 256
DROP_WARNING_SECONDS = 60.0
EXIT_FLUSH_SECONDS = 2.0
# Off the request thread a tight timeout saves nothing, and a timeout caused by a GIL
# wait would switch Redis off for the request path too (resilient_cache is per process).
SOCKET_TIMEOUT = 0.5
CONNECT_TIMEOUT = 0.25


class Batch:
    """The commands of one batch's first pipeline, gathered from its writes in order.

    Counter increments are summed per key (one INCRBY each), so a key a batch counts
    must not also be one it deletes."""

    def __init__(self) -> None:
        # An ordered set: the many resets of one key in a batch are one DEL (nothing this
        # module sends writes the key back between them).
        self.deletes: dict[str, None] = {}
        self.added: dict[str, int] = {}  # counter key -> what the writes so far add

    def delete(self, key: str) -> None:
        self.deletes[key] = None

    def incr(self, key: str, amount: int = 1) -> None:
        self.added[key] = self.added.get(key, 0) + amount


class Write(Protocol):
    """One fire-and-forget write, in two phases of a batch."""

    def first(self, batch: Batch) -> Collection[str]:
        """Add this write's commands to the batch; return the keys whose values `then`
        needs (as they are right after this write's increments), or ()."""

    def then(self, values: dict[str, int], pipe: Any) -> None:
        """Given those values (a missing key is 0), queue follow-ups (or nothing) on the
        batch's second pipeline. Not called when reading one of them failed."""


@dataclass(frozen=True)
class Delete:
    """DEL of one raw Redis key (for a Django cache entry: `cache.make_and_validate_key`)."""

    key: str

    def first(self, batch: Batch) -> Collection[str]:
        batch.delete(self.key)
        return ()

    def then(self, values: dict[str, int], pipe: Any) -> None:
        return None


DROPPED = Counter(
    "switchboard_background_writes_dropped",
    "Metrics events and breaker resets dropped because the background Redis queue was full.",
)


class _Drops:
    """Writes dropped on a full queue, and when the last warning about them was logged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.total = 0
        self.unreported = 0
        self.warned_at: float | None = None

    def add(self, now: float) -> None:
        DROPPED.inc()
        with self.lock:
            self.total += 1
            self.unreported += 1
            if self.warned_at is not None and now - self.warned_at < DROP_WARNING_SECONDS:
                return
            count, self.unreported, self.warned_at = self.unreported, 0, now
        logger.warning(
            "background Redis queue full (%d writes): dropped %d write(s) since the last warning",
            MAX_QUEUE,
            count,
        )


class _Sender:
    """The queue and the thread of one process.

    Only the sender thread takes from `pending` (deque appends and pops are atomic), so
    request threads need no lock. `idle` is set before the sender checks `pending` a
    last time and goes to sleep, and a submit reads it after appending: either the
    sender sees the write or the submit sees the flag and wakes it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.pending: deque[Write | threading.Event] = deque()
        self.wake = threading.Event()  # flush(), a long queue, or work for an idle sender
        self.idle = False
        self.thread = threading.Thread(target=self._run, name="background-redis", daemon=True)

    def _run(self) -> None:
        while True:
            self.wake.wait(FLUSH_SECONDS)  # let this interval's writes join the batch
            self.wake.clear()
            if not self.send_pending():
                self._sleep()

    def send_pending(self) -> bool:
        """Send what was queued by now as one batch (later writes wait for the next);
        False when nothing was queued."""
        pending = self.pending
        items = [pending.popleft() for _ in range(len(pending))]
        if not items:
            return False
        try:
            hook = _before_send
            if hook is not None:
                hook()
            _send([item for item in items if not isinstance(item, threading.Event)])
        except Exception:  # never let one bad batch stop the sender
            logger.exception("background Redis sender: a batch failed and was dropped")
        finally:
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
        return True

    def _sleep(self) -> None:
        """Nothing came for a whole interval: sleep until a submit (or flush) wakes us.
        `wake` stays set, so what woke us is sent at once: after a quiet spell there is
        nothing to batch it with, and a flush must not wait an interval."""
        self.idle = True
        if not self.pending:
            self.wake.wait()
        self.idle = False


_sender: _Sender | None = None
_start_lock = threading.Lock()
_drops = _Drops()
_clients: dict[str, Any] = {}
# A test hook: run by the sender thread after it took a batch and before it sends it,
# so a test can hold it and let writes pile up.
_before_send: Callable[[], None] | None = None
_clock: Callable[[], float] = time.monotonic


def submit(write: Write) -> None:
    """Queue a write for the sender thread; never blocks, never raises."""
    sender = _sender
    if sender is None or sender.pid != os.getpid():
        sender = _start()
    pending = sender.pending
    # Threads submitting at once can each pass this check: the queue may exceed
    # MAX_QUEUE by as many writes as there are threads, still a bound.
    if len(pending) >= MAX_QUEUE:
        _drops.add(_clock())
        return
    pending.append(write)
    if sender.idle or len(pending) >= WAKE_AT:
        sender.wake.set()


def flush(timeout: float) -> bool:
    """Wait until everything this process submitted before the call has been sent (or
    dropped by a Redis failure); False when `timeout` seconds passed first."""
    sender = _sender
    if sender is None or sender.pid != os.getpid():
        return True  # this process has submitted nothing
    done = threading.Event()
    sender.pending.append(done)  # past MAX_QUEUE too: a flush is never dropped
    sender.wake.set()
    return done.wait(timeout)


def dropped() -> int:
    """Writes dropped on a full queue since this process started."""
    return _drops.total


def client() -> Any | None:
    """The sender's Redis client for settings.REDIS_URL; None without Redis."""
    url = settings.REDIS_URL
    if not url:
        return None
    found = _clients.get(url)
    if found is None:
        import redis

        found = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT
        )
    return found


def _start() -> _Sender:
    global _sender
    with _start_lock:
        # A forked child inherits the parent's sender but not its thread: start its own
        # (with a fresh queue, so nothing the parent queued is sent twice).
        if _sender is None or _sender.pid != os.getpid():
            sender = _Sender()
            sender.thread.start()
            _sender = sender
        return _sender


def _send(writes: list[Write]) -> None:
    """The whole batch in two round trips: every write's commands, then the follow-ups
    that needed their results."""
    redis_client = client()
    if not writes or redis_client is None or not cache_available():
        return
    batch = Batch()
    # Per write, the keys it reads and what the batch had added to each right after it.
    marks: list[dict[str, int]] = []
    for write in writes:
        keys = write.first(batch)
        marks.append({key: batch.added.get(key, 0) for key in keys})
    counted = list(batch.added)
    unread = list({key: None for mark in marks for key in mark if key not in batch.added})

    first = redis_client.pipeline(transaction=False)
    for key in batch.deletes:
        first.delete(key)
    for key, amount in batch.added.items():
        first.incrby(key, amount)
    if unread:
        first.mget(unread)
    # Command errors (a key of the wrong type) come back as values, so one bad key does
    # not cost the batch; a connection failure raises into cache_call.
    results = cache_call(first.execute, raise_on_error=False, default=None) if len(first) else []
    if results is None:
        return
    _warn_about_errors(results)

    # Each key's value once the whole batch was counted (an Exception when it failed):
    # an INCRBY answers the new value, the MGET the others.
    replies = results[len(batch.deletes) :]
    final: dict[str, Any] = dict(zip(counted, replies[: len(counted)], strict=True))
    if unread:
        got = replies[-1]
        if isinstance(got, Exception):
            final.update(dict.fromkeys(unread, got))
        else:
            final.update(zip(unread, (int(v or 0) for v in got), strict=True))
    failed = {key for key, value in final.items() if isinstance(value, Exception)}

    second = redis_client.pipeline(transaction=False)
    for write, mark in zip(writes, marks, strict=True):
        if failed and not failed.isdisjoint(mark):
            continue
        # Each key as it was right after this write: less what the later writes added.
        after = {key: final[key] - batch.added.get(key, 0) + n for key, n in mark.items()}
        write.then(after, second)
    if len(second):
        _warn_about_errors(cache_call(second.execute, raise_on_error=False, default=[]))


def _warn_about_errors(results: list[Any]) -> None:
    errors = [type(r).__name__ for r in results if isinstance(r, Exception)]
    if errors:
        logger.warning(
            "background Redis sender: %d command(s) failed (%s)",
            len(errors),
            ", ".join(sorted(set(errors))),
        )


def _reset_locks_in_child() -> None:
    # A lock held by another thread at fork time would stay held in the child forever.
    global _start_lock
    _start_lock = threading.Lock()
    _drops.lock = threading.Lock()


def _flush_at_exit() -> None:
    if not flush(EXIT_FLUSH_SECONDS):
        logger.warning("background Redis sender: exited before every write was sent")


os.register_at_fork(after_in_child=_reset_locks_in_child)
atexit.register(_flush_at_exit)
