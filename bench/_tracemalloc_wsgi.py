"""WSGI module for `bench/load_test.py --tracemalloc DIR`: granian imports it in each worker
process, so each worker traces its Python allocations from start-up on and dumps a snapshot
every TRACEMALLOC_EVERY seconds to TRACEMALLOC_DIR/<pid>-<n>.snap, for
`bench/tracemalloc_diff.py` to compare. It then serves Switchboard's own application.

Diagnostic only: tracing slows every allocation, so a run with it measures memory, not
speed. Served by granian (`bench._tracemalloc_wsgi:application`), never imported by the
product.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from pathlib import Path

FRAMES = 12  # deep enough to reach the product's frames under Django's and psycopg's


def _start_tracing() -> None:
    out = Path(os.environ["TRACEMALLOC_DIR"])
    every = float(os.environ.get("TRACEMALLOC_EVERY", "60"))
    tracemalloc.start(FRAMES)
    stopped = threading.Event()

    def dump() -> None:
        n = 0
        while not stopped.wait(every):
            tracemalloc.take_snapshot().dump(str(out / f"{os.getpid()}-{n:03d}.snap"))
            n += 1

    threading.Thread(target=dump, name="tracemalloc-dump", daemon=True).start()


_start_tracing()

from controlplane.wsgi import application  # noqa: E402  (traced from its import on)

__all__ = ["application"]
