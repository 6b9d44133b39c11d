"""Fire-and-forget Redis writes, sent by one background thread per process.

The request path publishes a metrics event and resets a circuit-breaker count after
every call. Their results never change a response, so they need not cost the request a
Redis round trip: the request thread puts a `Write` on a bounded queue (microseconds)
and returns; this module's thread sends them.

What runs where:
- request thread: `submit()` (a non-blocking put; when the queue is full the write is
  dropped and counted, with a warning at most once a minute).
- sender thread (one per process, a daemon, started on the first submit and again in a
  forked child, whose copy of the parent's thread does not run): takes everything queued
  at once and sends the batch in at most two round trips, one pipeline with every
  write's first commands (INCRs, MGETs, DELs), then one with the commands that need
  their results (PUBLISH). A pipeline keeps each write's commands in order, so an
  MGET queued after its own INCRs reads the counters as they were right after them.
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
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from prometheus_client import Counter

from controlplane.lib.resilient_cache import cache_available, cache_call

logger = logging.getLogger(__name__)

MAX_QUEUE = 10_000
DROP_WARNING_SECONDS = 60.0
EXIT_FLUSH_SECONDS = 2.0
# Off the request thread a tight timeout saves nothing, and a timeout caused by a GIL
# wait would switch Redis off for the request path too (resilient_cache is per process).
SOCKET_TIMEOUT = 0.5
CONNECT_TIMEOUT = 0.25


class Write(Protocol):
    """One fire-and-forget write, in two phases of a batch."""

    def first(self, pipe: Any) -> None:
        """Queue this write's commands on the batch's first pipeline."""

    def then(self, results: list[Any], pipe: Any) -> None:
        """Given the results of its own first commands, queue follow-ups (or nothing)
        on the batch's second pipeline. Not called when one of them failed."""


@dataclass(frozen=True)
class Delete:
    """DEL of one raw Redis key (for a Django cache entry: `cache.make_and_validate_key`)."""

    key: str

    def first(self, pipe: Any) -> None:
        pipe.delete(self.key)

    def then(self, results: list[Any], pipe: Any) -> None:
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
    """The queue and the thread of one process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue[Write | threading.Event] = queue.Queue(maxsize=MAX_QUEUE)
        self.thread = threading.Thread(target=self._run, name="background-redis", daemon=True)

    def _run(self) -> None:
        while True:
            items = [self.queue.get()]
            try:
                hook = _before_drain
                if hook is not None:
                    hook()
                items.extend(_drain(self.queue))
                _send([item for item in items if not isinstance(item, threading.Event)])
            except Exception:  # never let one bad batch stop the sender
                logger.exception("background Redis sender: a batch failed and was dropped")
            finally:
                for item in items:
                    if isinstance(item, threading.Event):
                        item.set()


_sender: _Sender | None = None
_start_lock = threading.Lock()
_drops = _Drops()
_clients: dict[str, Any] = {}
# A test hook: run by the sender thread after it took the first item of a batch and
# before it drains the rest, so a test can hold it and let writes pile up.
_before_drain: Callable[[], None] | None = None
_clock: Callable[[], float] = time.monotonic


def submit(write: Write) -> None:
    """Queue a write for the sender thread; never blocks, never raises."""
    sender = _sender
    if sender is None or sender.pid != os.getpid():
        sender = _start()
    try:
        sender.queue.put_nowait(write)
    except queue.Full:
        _drops.add(_clock())


def flush(timeout: float) -> bool:
    """Wait until everything this process submitted before the call has been sent (or
    dropped by a Redis failure); False when `timeout` seconds passed first."""
    sender = _sender
    if sender is None or sender.pid != os.getpid():
        return True  # this process has submitted nothing
    deadline = time.monotonic() + timeout
    done = threading.Event()
    try:
        sender.queue.put(done, timeout=timeout)
    except queue.Full:
        return False
    return done.wait(max(0.0, deadline - time.monotonic()))


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


def _drain(pending: queue.Queue[Write | threading.Event]) -> list[Write | threading.Event]:
    items: list[Write | threading.Event] = []
    for _ in range(MAX_QUEUE):  # what was queued by now; later writes wait for the next batch
        try:
            items.append(pending.get_nowait())
        except queue.Empty:
            break
    return items


def _send(writes: list[Write]) -> None:
    """The whole batch in two round trips: every write's first commands, then the
    follow-ups that needed their results."""
    redis_client = client()
    if not writes or redis_client is None or not cache_available():
        return
    first = redis_client.pipeline(transaction=False)
    spans: list[tuple[Write, int, int]] = []
    for write in writes:
        start = len(first)
        write.first(first)
        spans.append((write, start, len(first)))
    # Command errors (a key of the wrong type) come back as values, so one bad write
    # does not cost the batch; a connection failure raises into cache_call.
    results = cache_call(first.execute, raise_on_error=False, default=None) if len(first) else []
    if results is None:
        return
    _warn_about_errors(results)
    second = redis_client.pipeline(transaction=False)
    for write, start, end in spans:
        own = results[start:end]
        if not any(isinstance(r, Exception) for r in own):
            write.then(own, second)
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
