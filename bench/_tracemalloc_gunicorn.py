"""gunicorn config for `bench/load_test.py --tracemalloc DIR`: each worker traces its Python
allocations from the fork on and dumps a snapshot every TRACEMALLOC_EVERY seconds to
TRACEMALLOC_DIR/<pid>-<n>.snap, for `bench/tracemalloc_diff.py` to compare.

Diagnostic only: tracing slows every allocation, so a run with it measures memory, not
speed. Loaded by gunicorn (`-c`), never imported by the product.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from pathlib import Path

FRAMES = 12  # deep enough to reach the product's frames under Django's and psycopg's


def post_fork(server, worker) -> None:  # gunicorn's hook signature; both unused
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
