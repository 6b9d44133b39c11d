"""A sustained load on Switchboard as it runs in production, against a fake upstream that
fails 10% of the time; checks that no audit row is lost, that no 5xx but the documented
502 `all_models_failed` comes back, and that the workers' memory stays flat.

    .venv/bin/python bench/load_test.py                  # 100 req/s for 180 s (~4 min)
    .venv/bin/python bench/load_test.py --duration 20    # smoke run (~1 min)
    .venv/bin/python bench/load_test.py --rate 50 --duration 300 --concurrency 128

Bounded and on 127.0.0.1 only:

1. a fresh PostgreSQL database `switchboard_load` and Redis database 13 (flushed), DEBUG
   off; both are dropped or flushed at the end, and every process stopped, whatever
   happens;
2. the fake upstream (`tests/fake_upstream.py`) in its own process. A seeded 10% of the
   calls it gets fail, each with one of: HTTP 500, HTTP 503, no answer within the
   model's 1 s timeout (`slow=3`), the connection dropped, a refusal. It keeps no
   request log, only counts (GET /load/stats);
3. a two-model chain: a local Ollama-kind model ($0) first, a cloud OpenAI-compatible one
   (priced) as its fallback, an agent preferring them in that order, the seed's
   `routing.yaml` and budgets far above what the run spends. A request whose two calls
   both fail (about 1 in 100) ends in 502 `all_models_failed`;
4. granian (WSGI, `--workers W --blocking-threads T`), as in docker-compose;
5. an open-loop generator in this process (asyncio, one httpx.AsyncClient): request i is
   due at start + i / rate whatever became of the earlier ones, so a slow server meets
   more load, not less. Half go to `POST /api/route`, 30% to `POST /v1/chat/completions`
   and 20% to the same with `"stream": true` (read to `data: [DONE]`). At most
   `--concurrency` are in flight; one due beyond that is not sent and is counted as shed.
   Latency runs from the moment a request was due (so a late send counts against it);
6. every `--sample-every` seconds, each granian worker's RSS (/proc/<pid>/status).

At the end it prints what it sent and got, and checks: one Decision row per request
answered (each request has its own session id, so a lost row is named), none for two;
every status 200 or 502 `all_models_failed` (a 4xx or any other 5xx fails); no client
error; the spend ledger equals the paid Decision rows; the achieved rate is at least
95% of `--rate`; and each worker's RSS grew by at most MEMORY_BOUND_MIB between the end
of warm-up (a quarter of the run, at most 30 s) and the end. It exits 1 when a check
fails.

The circuit breaker is set to open after `--circuit-failures` (default 10) consecutive
failures of a model: with the product's default of 3, random failures at 10% open it
every few seconds at this rate, and the run would measure the breaker, not the chain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from any directory
    sys.path.insert(0, str(ROOT))

from bench._harness import (  # noqa: E402
    HOST,
    ServerLog,
    bench_env,
    configure,
    cpu_delta,
    cpu_of,
    drop_database,
    load_average,
    pct,
    pg_url,
    proc_children,
    proc_status_kib,
    reset_database,
    start_server,
    start_upstream,
    stop,
)
from bench._load_checks import audit_rows, ledger_check, memory_rows, outcomes  # noqa: E402
from bench._load_world import (  # noqa: E402
    AGENT,
    CHAIN,
    CLOUD_KEY_ENV,
    FAULTS,
    UPSTREAM_CODE,
    request_for,
    session_of,
    write_config,
)

DB_NAME = "switchboard_load"
REDIS_URL = f"redis://{HOST}:6379/13"
MIX = (("route", 0.5), ("chat", 0.3), ("chat-stream", 0.2))
MEMORY_BOUND_MIB = 10.0  # growth per worker after warm-up that still counts as flat
MIN_RATE_SHARE = 0.95


def error_code(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        return str(response.json()["error"]["code"])
    return "?"


def _has_content(line: str) -> bool:
    """Whether an SSE line carries answer text."""
    if not line.startswith("data: {"):
        return False
    chunk = json.loads(line[6:])
    return any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or ())


@dataclass
class Result:
    index: int
    endpoint: str
    status: str  # "200", "502 all_models_failed", "client error: ReadTimeout", ...
    answered: bool  # an HTTP response came back (so an audit row must exist)
    latency_ms: float  # from the moment it was due
    late_ms: float  # how late it was sent
    ttft_ms: float | None = None


async def send(client: httpx.AsyncClient, index: int, endpoint: str, due: float) -> Result:
    path, body = request_for(index, endpoint)
    late = (time.perf_counter() - due) * 1000
    ttft = None
    try:
        if endpoint == "chat-stream":
            async with client.stream("POST", path, json=body) as response:
                status = str(response.status_code)
                last = ""
                if response.status_code == 200:
                    async for line in response.aiter_lines():
                        if ttft is None and _has_content(line):
                            ttft = (time.perf_counter() - due) * 1000
                        last = line or last
                    if last != "data: [DONE]":
                        status = "200 unfinished stream"
                else:
                    await response.aread()
                    status = f"{response.status_code} {error_code(response)}"
        else:
            response = await client.post(path, json=body)
            status = str(response.status_code)
            if response.status_code != 200:
                status = f"{status} {error_code(response)}"
        answered = True
    except (httpx.HTTPError, ValueError) as exc:  # ValueError: an SSE line that is not JSON
        status, answered = f"client error: {type(exc).__name__}", False
    latency = (time.perf_counter() - due) * 1000
    return Result(index, endpoint, status, answered, latency, late, ttft)


@dataclass
class Run:
    results: list[Result] = field(default_factory=list)
    shed: int = 0  # due while `concurrency` requests were in flight: not sent
    scheduled: int = 0
    elapsed_s: float = 0.0
    rss: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # pid -> (t, MiB)

    def collect(self, task: asyncio.Task[Result]) -> None:
        self.results.append(task.result())


async def sample_rss(master: int, run: Run, every: float, started: float) -> None:
    while True:
        now = time.perf_counter() - started
        for pid in proc_children(master):
            run.rss.setdefault(pid, []).append((now, proc_status_kib(pid, "VmRSS") / 1024))
        await asyncio.sleep(every)


async def drive(args: argparse.Namespace, url: str, key: str, master: int) -> Run:
    run = Run()
    picker = random.Random(args.seed)
    names, weights = zip(*MIX, strict=True)
    # An idle connection is dropped after 1 s, before a server's keep-alive timeout can
    # close it: a request sent on a connection the server is closing fails (ReadError)
    # before Switchboard sees it (met once in 18,000 requests under gunicorn's 2 s).
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=64, keepalive_expiry=1.0
    )
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30, limits=limits
    ) as client:
        started = time.perf_counter()
        sampler = asyncio.create_task(sample_rss(master, run, args.sample_every, started))
        in_flight: set[asyncio.Task[Result]] = set()
        total = int(args.rate * args.duration)
        for index in range(total):
            due = started + index / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            endpoint = picker.choices(names, weights)[0]
            run.scheduled += 1
            if len(in_flight) >= args.concurrency:
                run.shed += 1
                continue
            task = asyncio.create_task(send(client, index, endpoint, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            task.add_done_callback(run.collect)
        if in_flight:
            await asyncio.wait(set(in_flight))
        run.elapsed_s = time.perf_counter() - started
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        for pid in proc_children(master):  # one last reading, after the drain
            run.rss.setdefault(pid, []).append(
                (run.elapsed_s, proc_status_kib(pid, "VmRSS") / 1024)
            )
    return run


# -- set-up ------------------------------------------------------------------------------------


def check_chain(url: str, key: str) -> None:
    """A dry run before the load: the chain must hold both models, local first."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "agent": AGENT,
        "session_id": "warmup/route",
        "messages": [{"role": "user", "content": "Hello"}],
    }
    body["dry_run"] = True
    response = httpx.post(f"{url}/api/route", json=body, headers=headers, timeout=30)
    chain = response.json().get("decision", {}).get("chain")
    if response.status_code != 200 or chain != CHAIN:
        raise RuntimeError(f"unexpected first decision: {response.status_code} {response.text}")


def upstream_stats(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/load/stats", timeout=5).json()


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--concurrency", type=int, default=256, help="most requests in flight")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--threads", type=int, default=16, help="granian threads per worker")
    parser.add_argument("--fail-rate", type=float, default=0.1, help="share of failing calls")
    parser.add_argument("--circuit-failures", type=int, default=10)
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS reads")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="DIR",
        help="diagnose memory: each worker dumps a tracemalloc snapshot to DIR every "
        "--tracemalloc-every seconds (slows the server); compare with bench/tracemalloc_diff.py",
    )
    parser.add_argument("--tracemalloc-every", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.concurrency <= 0:
        parser.error("--rate, --duration and --concurrency must be positive")

    print(f"python      {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load before {load_average()}")
    wall = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-load-"))
    upstream = server = None
    try:
        reset_database(DB_NAME)
        redis.Redis.from_url(REDIS_URL).flushdb()
        env = bench_env(
            DB_NAME,
            REDIS_URL,
            {
                CLOUD_KEY_ENV: "sk-load-not-a-real-key",
                "SWITCHBOARD_CIRCUIT_FAILURES": str(args.circuit_failures),
            },
        )
        upstream, upstream_url = start_upstream(
            workdir, UPSTREAM_CODE, str(args.fail_rate), str(args.seed), ";".join(FAULTS)
        )
        write_config(workdir / "config", upstream_url)
        key = configure(env, workdir / "config", "load")
        app = None
        if args.tracemalloc:
            args.tracemalloc.mkdir(parents=True, exist_ok=True)
            env["TRACEMALLOC_DIR"] = str(args.tracemalloc.resolve())
            env["TRACEMALLOC_EVERY"] = str(args.tracemalloc_every)
            app = "bench._tracemalloc_wsgi:application"
        # A traced worker imports Django several times slower.
        server, url = start_server(
            env, workdir, args.workers, args.threads, app=app, ready_within=180 if app else 30
        )
        master = server.pid
        workers = proc_children(master)
        check_chain(url, key)
        print(
            f"server      granian --workers {args.workers} --blocking-threads {args.threads}, "
            f"workers {workers}; fake upstream {upstream_url} (pid {upstream.pid}), "
            f"{args.fail_rate:.0%} of calls fail: {', '.join(FAULTS)}"
        )
        print(
            f"load        {args.rate:g} req/s for {args.duration:g} s, open loop, at most "
            f"{args.concurrency} in flight; mix {', '.join(f'{n} {w:.0%}' for n, w in MIX)}",
            flush=True,
        )
        log = ServerLog(workdir)
        log.read()
        cpu_before = cpu_of([master, *workers])
        run = asyncio.run(drive(args, url, key, master))
        server_cpu = cpu_delta(cpu_before, cpu_of([master, *proc_children(master)]))
        restarted = sorted(set(proc_children(master)) ^ set(workers))
        logged = log.read()
        stats = upstream_stats(upstream_url)
        stop(server)
        server = None
        return report(args, run, stats, logged, server_cpu, restarted, wall)
    finally:
        stop(server)
        stop(upstream)
        try:
            drop_database(DB_NAME)
        except psycopg.Error as exc:
            print(f"could not drop {DB_NAME}: {exc}", file=sys.stderr)
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(REDIS_URL).flushdb()
        shutil.rmtree(workdir, ignore_errors=True)


def report(
    args: argparse.Namespace,
    run: Run,
    stats: dict[str, int],
    logged: Counter[str],
    server_cpu: float,
    restarted: list[int],
    wall: float,
) -> int:
    results = run.results
    sent = len(results)
    answered = [r for r in results if r.answered]
    by_endpoint: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        by_endpoint[r.endpoint][r.status] += 1
    statuses = Counter(r.status for r in results)
    database = pg_url(DB_NAME)
    rows, unexpected, missing = audit_rows(
        database,
        {session_of(r.endpoint, r.index) for r in results},
        {session_of(r.endpoint, r.index) for r in answered},
    )
    doubled = sum(1 for n in rows.values() if n > 1)
    warmup = min(30.0, args.duration / 4)
    memory = memory_rows(run.rss, run.elapsed_s, warmup)

    print()
    print(
        f"requests    scheduled {run.scheduled}, sent {sent}, shed {run.shed}, answered {len(answered)}"
    )
    rate = len(answered) / run.elapsed_s if run.elapsed_s else 0.0
    print(
        f"rate        offered {args.rate:g} req/s; answered {rate:.1f} req/s over "
        f"{run.elapsed_s:.1f} s (the drain included)"
    )
    late = [r.late_ms for r in results]
    print(
        f"send delay  p50 {pct(late, 50):.1f} ms, p99 {pct(late, 99):.1f} ms, max {max(late, default=0):.1f} ms"
    )
    print("statuses    " + ", ".join(f"{s}: {n}" for s, n in statuses.most_common()))
    for endpoint, counter in sorted(by_endpoint.items()):
        print(f"  {endpoint:<12}" + ", ".join(f"{s}: {n}" for s, n in counter.most_common()))
    print("latency     from the moment each request was due, in ms")
    print(f"  {'':<12}{'n':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    groups = {"all": answered, **{e: [r for r in answered if r.endpoint == e] for e, _ in MIX}}
    for name, group in groups.items():
        data = [r.latency_ms for r in group]
        print(
            f"  {name:<12}{len(data):>7}{pct(data, 50):>9.1f}{pct(data, 95):>9.1f}"
            f"{pct(data, 99):>9.1f}{max(data, default=0):>9.1f}"
        )
    ttft = [r.ttft_ms for r in answered if r.ttft_ms is not None]
    print(f"  stream TTFT p50 {pct(ttft, 50):.1f}, p99 {pct(ttft, 99):.1f} ({len(ttft)} streams)")
    failed_calls = {k: v for k, v in stats.items() if k.startswith("failed")}
    calls = stats.get("calls", 0)
    print(
        f"upstream    {calls} calls, {sum(failed_calls.values())} failed "
        f"({sum(failed_calls.values()) / max(1, calls):.1%}): "
        + ", ".join(f"{k[8:]} {v}" for k, v in sorted(failed_calls.items()))
    )
    print("decisions   " + ", ".join(f"{k}: {v}" for k, v in outcomes(database).items()))
    print(f"server CPU  {server_cpu:.1f} s, {server_cpu / max(1, sent) * 1000:.2f} ms per request")
    print(
        f"RSS (MiB)   warm-up {warmup:g} s; start / after warm-up / middle / end; growth after warm-up"
    )
    for pid, marks, growth, slope in memory:
        print(
            f"  worker {pid}: "
            + " / ".join(f"{m:.1f}" for m in marks)
            + f"; {growth:+.1f} MiB, slope {slope:+.2f} MiB/min"
        )
    for message, n in logged.most_common(12):
        print(f"server log  {n} x {message}")
    if restarted:
        print(f"NOTE        workers changed during the run: {restarted}")

    unexpected_status = {
        s: n
        for s, n in statuses.items()
        if s not in ("200", "502 all_models_failed") and s[0] in "45"
    }
    client_errors = {
        s: n for s, n in statuses.items() if not s[0].isdigit() or s.startswith("200 ")
    }
    ledger, ledger_ok = ledger_check(database)
    checks = [
        (
            "one audit row per answered request",
            f"{sum(1 for s in {session_of(r.endpoint, r.index) for r in answered} if s in rows)}"
            f" of {len(answered)} have one; missing {len(missing)} {missing[:5]}; "
            f"{doubled} doubled; {unexpected} for unanswered requests",
            not missing and not doubled,
        ),
        (
            "no 4xx and no 5xx but 502 all_models_failed",
            str(unexpected_status or "none"),
            not unexpected_status,
        ),
        ("no client error or broken stream", str(client_errors or "none"), not client_errors),
        ("spend ledger == paid Decision rows", ledger, ledger_ok),
        (
            f"answered >= {MIN_RATE_SHARE:.0%} of the offered rate",
            f"{rate:.1f} of {args.rate:g} req/s, {run.shed} shed",
            rate >= MIN_RATE_SHARE * args.rate and not run.shed,
        ),
        (
            f"memory flat: each worker grew <= {MEMORY_BOUND_MIB:g} MiB after warm-up",
            ", ".join(f"{pid}: {growth:+.1f}" for pid, _, growth, _ in memory),
            bool(memory) and all(growth <= MEMORY_BOUND_MIB for _, _, growth, _ in memory),
        ),
        ("no worker restarted", str(restarted or "none"), not restarted),
    ]
    print()
    for name, detail, ok in checks:
        print(f"check  {'ok  ' if ok else 'FAIL'}  {name}: {detail}")
    print(f"load after  {load_average()}")
    print(f"wall time   {time.monotonic() - wall:.0f} s")
    return 0 if all(ok for *_, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
