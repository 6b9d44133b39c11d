"""Requests per second at saturation, with a load generator that costs (almost) nothing.

    .venv/bin/python bench/saturation.py [--endpoints route,chat] [--duration 15]
        [--connections 32] [--workers 2] [--threads 16]

`route_overhead.py` drives Switchboard from Python threads (one httpx client each) on the
same two cores as the server: its load generator alone burns ~1.5 ms of CPU a request,
which the server then cannot use, so its concurrency-32 figure is a property of the pair.
This script measures the server's own capacity the usual way, with `wrk` (C, epoll; about
0.05 ms of CPU a request), in the same production-style world as `route_overhead.py`:
granian on a fresh PostgreSQL database, Redis db 15, the fake upstream in its own process,
the same configuration and request bodies.

For each endpoint: first the fake upstream alone (what the model side can take on this
machine, with wrk as its client), then Switchboard, for `--duration` seconds at
`--connections` keep-alive connections after 2 s of warm-up. It prints req/s, latency
percentiles (wrk's), errors, and CPU per request of the server (granian and its workers),
the PostgreSQL backends, the fake upstream and wrk. Checks: every answer a 200, no socket
error, and one Decision row per request the server received (wrk stops with up to
`--connections` requests in flight; their rows are written too, so rows may exceed wrk's
count by at most that many).

Needs `wrk` (Debian: `apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from any directory
    sys.path.insert(0, str(ROOT))

from bench import _harness  # noqa: E402
from bench import route_overhead as world  # noqa: E402
from bench._harness import (  # noqa: E402
    bench_env,
    cpu_delta,
    cpu_of,
    load_average,
    proc_children,
    start_server,
    stop,
)

WARMUP_S = 2.0
ENDPOINTS = ("route", "chat")


def lua_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def to_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, script: Path, connections: int, duration: float) -> dict[str, float]:
    """Run wrk; return its requests, req/s, p50/p90/p99 (ms), errors and its own CPU."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", str(script)]
    done = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=duration + 60, check=True
    )
    out = done.stdout
    found = {
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
    }
    for q in ("50", "90", "99"):
        found[f"p{q}"] = to_ms(re.search(rf"\s{q}%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found["non2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    found["socket_errors"] = float(sum(int(g) for g in errors.groups())) if errors else 0.0
    return found


def decision_rows(prefix: str) -> int:
    with psycopg.connect(world.PG_BENCH) as conn:
        return conn.execute(
            "SELECT count(*) FROM routing_decision WHERE session_id LIKE %s", [prefix + "%"]
        ).fetchone()[0]


def measure(
    name: str, url: str, script: Path, args: argparse.Namespace, pids: dict[str, list[int]]
) -> dict[str, float]:
    warmup = wrk(url, script, args.connections, WARMUP_S)
    postgres = world.PostgresCpu()
    before = {group: cpu_of(p) for group, p in pids.items()}
    result = wrk(url, script, args.connections, args.duration)
    result["warmup_requests"] = warmup["requests"]
    result["cpu_pg"] = postgres.stop() * 1000 / result["requests"]
    for group, p in pids.items():
        result[f"cpu_{group}"] = cpu_delta(before[group], cpu_of(p)) * 1000 / result["requests"]
    print(
        f"{name:<18}{result['rps']:>9.0f}{result['p50']:>9.2f}{result['p90']:>9.2f}"
        f"{result['p99']:>9.2f}{int(result['non2xx']):>8}{int(result['socket_errors']):>8}"
        f"{result.get('cpu_server', 0):>9.2f}{result['cpu_pg']:>9.2f}"
        f"{result['cpu_upstream']:>9.2f}   load {load_average().split(' (')[0]}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS), help="route and/or chat")
    parser.add_argument("--duration", type=float, default=15.0, help="timed seconds per run")
    parser.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--threads", type=int, default=16, help="granian threads per worker")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.endpoints.split(",") if n.strip()]
    if not names or any(n not in ENDPOINTS for n in names):
        parser.error(f"--endpoints: a comma-separated list among {','.join(ENDPOINTS)}")
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2

    print(f"load before {load_average()}")
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-saturation-"))
    upstream = server = None
    checks: list[tuple[str, bool]] = []
    try:
        world.reset_database()
        redis.Redis.from_url(world.REDIS_URL).flushdb()
        env = bench_env(world.DB_NAME, world.REDIS_URL, {world.CLOUD_KEY_ENV: "sk-bench-not-real"})
        upstream, upstream_url, capture = world.start_upstream(workdir)
        key = world.configure(workdir, env, upstream_url)
        server, server_url = start_server(env, workdir, args.workers, args.threads)
        pids = {
            "server": [server.pid, *proc_children(server.pid)],
            "upstream": [upstream.pid],
        }
        print(
            f"server      granian --workers {args.workers} --blocking-threads {args.threads}; "
            f"wrk -t1 -c{args.connections}, {args.duration:g} s a run after {WARMUP_S:g} s warm-up"
        )
        print(
            f"{'run':<18}{'req/s':>9}{'p50':>9}{'p90':>9}{'p99':>9}{'non-2xx':>8}{'sockerr':>8}"
            f"{'server':>9}{'postgres':>9}{'upstream':>9}   (latency ms; CPU ms per request)"
        )
        for name in names:
            endpoint = world.ENDPOINTS[name]
            target, _ = world.set_up(endpoint, server_url, key, upstream_url, capture)
            direct = lua_script(
                workdir / f"{name}-direct.lua", target.direct_body, target.direct_headers
            )
            measure(f"{name} direct", target.direct_url, direct, args, {"upstream": [upstream.pid]})
            body = world.switchboard_body(endpoint, 0)
            script = lua_script(workdir / f"{name}.lua", body, target.headers)
            rows_before = decision_rows(world.session_prefix(endpoint))
            result = measure(f"{name} switchboard", target.url, script, args, pids)
            _harness.pause(2.0)  # the requests wrk abandoned in flight finish
            rows = decision_rows(world.session_prefix(endpoint)) - rows_before
            answered = int(result["requests"] + result["warmup_requests"])
            abandoned = rows - answered  # wrk left them in flight at the end of a run
            checks.append((f"{name}: every answer a 200", result["non2xx"] == 0))
            checks.append((f"{name}: no socket error", result["socket_errors"] == 0))
            checks.append(
                (
                    f"{name}: one Decision row per request: {rows} rows for {answered} answered"
                    f" and {abandoned} left in flight by wrk (at most {2 * args.connections})",
                    0 <= abandoned <= 2 * args.connections,
                )
            )
    finally:
        stop(server)
        stop(upstream)
        try:
            world.drop_database()
        except psycopg.Error as exc:
            print(f"could not drop {world.DB_NAME}: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    for label, ok in checks:
        print(f"check  {'ok  ' if ok else 'FAIL'}  {label}")
    print(f"load after  {load_average()}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
