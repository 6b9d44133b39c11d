"""Server time of the overview and the audit log's first page at a million decisions.

    createdb -h 127.0.0.1 -U postgres switchboard_dashboard_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchboard_dashboard_bench
    DEBUG=true .venv/bin/python manage.py migrate
    DEBUG=true .venv/bin/python manage.py generate_decisions          # 1,000,000 rows
    .venv/bin/python bench/dashboard_render.py [--runs N] [--unrolled]

(Not `switchboard_bench`: route_overhead.py drops and recreates that one.)

Each page is rendered in this process through Django's test client, with a logged-in
admin, the whole middleware stack and the templates, as a request to a server would be:
the overview for 7 and 30 days, full page and htmx partial, and the audit log's first
page with no filter and with the common ones. Each is rendered twice to warm up, then
`--runs` times (default 20); the script prints the p50, p95 and max wall time, the
thread CPU time at p50, and the page's SQL query count (from one more render under
CaptureQueriesContext, so the timed renders do not pay for capturing). The issue's
target is at most 300 ms of server time per page.

`--unrolled` reads the overview as if nothing were rolled up (the watermark taken as
None, so every series reads the decision table), to show what the rollups buy.
DEBUG is off unless the environment sets it, as in production.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from any directory
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-any-deployment")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from routing.models import Decision  # noqa: E402
from routing.services.rollups import rollup_watermark  # noqa: E402

TARGET_MS = 300.0
ADMIN = "bench-admin"
HTMX = {"HTTP_HX_REQUEST": "true"}


def pages() -> list[tuple[str, str, dict[str, str]]]:
    """(label, path, extra headers) for every page measured."""
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    return [
        ("overview 7d", "/?days=7", {}),
        ("overview 7d htmx", "/?days=7", HTMX),
        ("overview 30d", "/?days=30", {}),
        ("overview 30d htmx", "/?days=30", HTMX),
        ("audit", "/audit", {}),
        ("audit htmx", "/audit", HTMX),
        ("audit agent", "/audit?agent=backend_agent", {}),
        ("audit model", "/audit?model=gpt-4-turbo", {}),
        ("audit outcome=failed", "/audit?outcome=failed", {}),
        ("audit strategy", "/audit?strategy=privacy_first", {}),
        ("audit pii", "/audit?pii=true", {}),
        ("audit since 1d", f"/audit?since={since}", {}),
        ("audit agent+failed", "/audit?agent=qa_agent&outcome=failed", {}),
    ]


def percentile(ordered: list[float], fraction: float) -> float:
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def admin_client() -> Client:
    user, _ = get_user_model().objects.get_or_create(
        username=ADMIN, defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def measure(get: Callable[[], Any], runs: int) -> tuple[list[float], list[float]]:
    for _ in range(2):
        get()
    wall, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = get()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{response.status_code} from the page: {response.content[:300]!r}")
    return sorted(wall), sorted(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--unrolled", action="store_true", help="ignore the rollups")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to the PostgreSQL database generate_decisions filled.")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [Decision._meta.db_table]
        )
        estimate = cursor.fetchone()[0]
    if estimate < 100_000:
        raise SystemExit(
            f"Only about {estimate:,} decisions: run `manage.py generate_decisions` first."
        )
    if args.unrolled:
        import routing.selectors.overview as overview

        overview._rollup_watermark = lambda: None  # type: ignore[assignment]
    client = admin_client()
    load = os.getloadavg()
    print(
        f"database    {connection.settings_dict['NAME']}: ~{estimate:,} decisions, "
        f"rolled up until {rollup_watermark()}{' (ignored: --unrolled)' if args.unrolled else ''}"
    )
    print(
        f"machine     {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load {load[0]:.2f} (1 min)"
    )
    print(f"runs        {args.runs} per page after 2 warm-up renders; times in ms\n")
    print(f"{'page':<22}{'p50':>8}{'p95':>8}{'max':>8}{'cpu p50':>9}{'queries':>9}  target")
    worst = 0.0
    for label, path, headers in pages():

        def get(path: str = path, headers: dict[str, str] = headers) -> Any:
            return client.get(path, **headers)

        wall, cpu = measure(get, args.runs)
        with CaptureQueriesContext(connection) as queries:
            get()
        p95 = percentile(wall, 0.95)
        worst = max(worst, p95)
        verdict = "meets" if p95 <= TARGET_MS else "MISSES"
        print(
            f"{label:<22}{percentile(wall, 0.5):>8.1f}{p95:>8.1f}{wall[-1]:>8.1f}"
            f"{percentile(cpu, 0.5):>9.1f}{len(queries):>9}  {verdict}"
        )
    load = os.getloadavg()
    print(f"\nload after  {load[0]:.2f} (1 min)")
    print(
        f"target      p95 <= {TARGET_MS:.0f} ms on every page: "
        f"{'MEETS' if worst <= TARGET_MS else 'MISSES'} (worst p95 {worst:.1f} ms)"
    )


if __name__ == "__main__":
    main()
