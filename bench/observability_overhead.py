"""What observability adds to each request: `routing.observability.decision_observed`
(the Prometheus counters and the one JSON "request routed" line) on a recorded row.

    .venv/bin/python bench/observability_overhead.py [--iterations N]

No database: the row is an unsaved Decision with three attempts (two lost, one answer).
The log line goes through the JSON formatter and the context filter, as settings.LOGGING
wires them, into a stream that discards it, so the figure is formatting, not disk.
Prints p50/p90/p99 in microseconds for the counters alone and for the whole hook, and
the cost of rendering /metrics' process part (no database collector).
"""

from __future__ import annotations

import argparse
import gc
import io
import logging
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LOG_FORMAT", "json")

import django  # noqa: E402

django.setup()

from prometheus_client import REGISTRY, generate_latest  # noqa: E402

from controlplane.logging import LogContextFilter, json_formatter  # noqa: E402
from routing.models import Decision  # noqa: E402
from routing.observability import decision_observed  # noqa: E402
from routing.prometheus import decision_counted  # noqa: E402


class _Discard(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def _row(i: int) -> Decision:
    return Decision(
        public_id=uuid.uuid4(),
        agent_key=f"agent-{i % 20}",
        outcome="success",
        model_used=f"model-{i % 50}",
        provider="ollama",
        strategy="balanced",
        latency_ms=120 + i % 300,
        cost_usd=0.0012,
        fallback_tax_usd=0.0,
        attempts=[
            {"model": "m-a", "outcome": "rejected", "reason": "timeout: upstream timed out"},
            {"model": "m-b", "outcome": "rejected", "reason": "rate limited (429); cooling"},
            {"model": f"model-{i % 50}", "outcome": "success", "reason": None},
        ],
    )


def _time(fn, rows: list[Decision]) -> list[float]:
    out = []
    gc.disable()
    try:
        for row in rows:
            started = time.perf_counter_ns()
            fn(row)
            out.append((time.perf_counter_ns() - started) / 1000)
    finally:
        gc.enable()
    return out


def _report(name: str, micros: list[float]) -> None:
    q = statistics.quantiles(micros, n=100)
    print(f"{name:<40} p50 {q[49]:7.1f} us   p90 {q[89]:7.1f} us   p99 {q[98]:7.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(_Discard())
    handler.setFormatter(json_formatter())
    handler.addFilter(LogContextFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    rows = [_row(i) for i in range(args.iterations)]
    _time(decision_observed, rows[:1000])  # warm up label children and the formatter
    _report("counters only (decision_counted)", _time(decision_counted, rows))
    _report("counters + JSON line (decision_observed)", _time(decision_observed, rows))
    renders = []
    for _ in range(200):
        started = time.perf_counter_ns()
        body = generate_latest(REGISTRY)
        renders.append((time.perf_counter_ns() - started) / 1000)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    _report(f"render process metrics ({series:,} series)", renders)


if __name__ == "__main__":
    main()
