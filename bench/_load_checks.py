"""What bench/load_test.py checks after the load: the audit rows, the spend ledger, the
decisions' outcomes (read from the run's database) and the workers' memory."""

from __future__ import annotations

import time

import psycopg

from bench._harness import pause

Samples = dict[int, list[tuple[float, float]]]  # pid -> [(seconds into the run, MiB)]


def audit_rows(
    database: str, expected: set[str], answered: set[str]
) -> tuple[dict[str, int], int, list[str]]:
    """Decision rows per session id of the run, the number for sessions never sent, and
    the answered sessions without one (after waiting up to 30 s for the last streams,
    whose rows are written when they end)."""
    deadline = time.monotonic() + 30
    with psycopg.connect(database) as conn:
        while True:
            rows = dict(
                conn.execute(
                    "SELECT session_id, count(*) FROM routing_decision"
                    " WHERE session_id LIKE 'load/%' GROUP BY 1"
                ).fetchall()
            )
            missing = sorted(answered - set(rows))
            if not missing or time.monotonic() > deadline:
                break
            conn.commit()
            pause(0.5)
        unexpected = len(set(rows) - expected)
    return rows, unexpected, missing


def ledger_check(database: str) -> tuple[str, bool]:
    """The global daily ledger against the Decision rows' cost and fallback tax."""
    with psycopg.connect(database) as conn:
        decisions = conn.execute(
            "SELECT coalesce(sum(cost_usd + fallback_tax_usd), 0) FROM routing_decision"
        ).fetchone()[0]
        ledger = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM routing_spendledger"
            " WHERE scope = 'global' AND period = 'day'"
        ).fetchone()[0]
    return f"${ledger} == ${decisions}", ledger == decisions


def outcomes(database: str) -> dict[str, int]:
    """Decision rows of the run by outcome, and whether a model was given up on first."""
    with psycopg.connect(database) as conn:
        return dict(
            conn.execute(
                "SELECT outcome || CASE WHEN jsonb_array_length(attempts) > 1"
                " THEN ' after a fallback' ELSE '' END, count(*) FROM routing_decision"
                " WHERE session_id LIKE 'load/%' GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )


def slope_mib_per_min(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in points)
    return cov / var * 60 if var else 0.0


def memory_rows(
    samples: Samples, elapsed_s: float, warmup_s: float
) -> list[tuple[int, list[float], float, float]]:
    """Per worker: RSS at start, end of warm-up, middle and end; growth after warm-up;
    slope after warm-up (MiB per minute, least squares)."""
    rows = []
    for pid, points in sorted(samples.items()):
        after = [p for p in points if p[0] >= warmup_s] or points[-1:]
        middle = min(points, key=lambda p: abs(p[0] - elapsed_s / 2))
        marks = [points[0][1], after[0][1], middle[1], points[-1][1]]
        rows.append((pid, marks, points[-1][1] - after[0][1], slope_mib_per_min(after)))
    return rows
