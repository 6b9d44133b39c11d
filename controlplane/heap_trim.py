"""Hand the heap that a long-running process has freed back to the OS, every minute.

Why: under sustained load a web worker's Python objects stay flat (tracemalloc
snapshots 10 minutes apart differ by under 1 MiB), yet its RSS kept creeping up, about
+14 MiB per worker over 15 minutes at 150 req/s. The creep is memory glibc's malloc has
freed but keeps: free pages stranded between live blocks are only given back by
`malloc_trim`, never by `free`. Trimming once a minute held a 10-minute run at 150
req/s to +3 to +4 MiB, levelling off (bench/load_test.py; figures in bench/README.md).

Only glibc has `malloc_trim`; elsewhere (musl, macOS) this does nothing. It runs in a
daemon thread of each web worker (started by controlplane.wsgi / asgi, after the fork:
threads do not survive a fork, so a `--preload`ed app would start it in the master
only) and of each Celery worker process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_started = threading.Lock()
_thread: threading.Thread | None = None


def libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim  # CDLL releases the GIL during the call
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def start(interval_s: float, *, trim: Callable[[int], int] | None = None) -> threading.Event | None:
    """Trim every `interval_s` seconds in a daemon thread, once per process. Returns the
    Event that stops it, or None when it is off (0), unavailable or already running."""
    global _thread
    if interval_s <= 0:
        return None
    trim = trim or libc_malloc_trim()
    if trim is None:
        logger.info("malloc_trim is not available on this C library; heap trimming is off")
        return None
    with _started:
        if _thread is not None and _thread.is_alive():
            return None
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval_s):
                trim(0)

        _thread = threading.Thread(target=run, name="heap-trim", daemon=True)
        _thread.start()
    return stop
