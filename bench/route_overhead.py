"""What `POST /api/route` adds over calling the same upstream model directly.

    .venv/bin/python bench/route_overhead.py [--duration 15] [--workers 2] [--threads 16]

Production-style, on this machine only (127.0.0.1):

1. a fresh PostgreSQL database `switchboard_bench` (dropped first if it exists), Redis
   database 15 (flushed), DEBUG off, `manage.py migrate`;
2. the fake upstream (`tests/fake_upstream.py`, which speaks Ollama's /api/chat) in a
   separate process, so its CPU is not the server's and it shares no GIL with the load
   generator; it keeps no request log (the stock one grows without bound) but writes
   the first chat request it receives, Switchboard's, to a file;
3. a configuration directory (tmp) with a local Ollama-kind provider and model ($0) and a
   cloud OpenAI-compatible one on the same fake upstream, an agent, the seed's
   `routing.yaml` (strategies, the four global rules) and budgets, imported with
   `manage.py import_routing_config`; an API key made with `api_key_create`;
4. gunicorn, `-k gthread`, `--workers W --threads T`, access log off, until /healthz
   answers;
5. a load generator in this process: one thread and one keep-alive `httpx.Client` per
   concurrent client. At concurrency 1 and 32, after a warm-up, for `--duration`
   seconds each: (a) the fake upstream directly with exactly the body and headers
   Switchboard sent it for the same request (captured in step 2), (b) `POST /api/route`
   with a small realistic body (an agent, a session, two messages, about 300
   characters). Latency is per request, on the wall clock, in this process;
6. server CPU per request: utime + stime of the gunicorn master and its workers from
   /proc/<pid>/stat, before and after each route run, divided by the requests of that
   run (warm-up included: all of them ran in the server). The PostgreSQL backends of
   the bench database are counted apart, and so are the fake upstream and this process.
   Peak memory per worker: VmHWM from /proc/<pid>/status at the end;
7. correctness: one Decision row per route request sent, and the spend ledger, the
   session usage and the Decision rows agree;
8. every process stopped and the database dropped, whatever happened.

The load generator shares the machine (and at concurrency 32 its GIL is busy): read the
route-minus-direct difference, not the absolute latencies, and note the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
HOST = "127.0.0.1"
DB_NAME = "switchboard_bench"
PG_ADMIN = f"postgresql://postgres@{HOST}:5432/postgres"
PG_BENCH = f"postgresql://postgres@{HOST}:5432/{DB_NAME}"
REDIS_URL = f"redis://{HOST}:6379/15"
CLOUD_KEY_ENV = "BENCH_CLOUD_API_KEY"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONCURRENCY = (1, 32)
WARMUP_S = 2.0

# Targets of the route issue, and LiteLLM's published figures for scale (not measured here).
TARGET_ADDED_P50_MS = 2.0
TARGET_RPS = 500.0
TARGET_WORKER_MIB = 150.0
LITELLM = (
    ("added latency p50 at concurrency 1", "18 ms"),
    ("CPU per request", "~17 ms"),
    ("throughput, two workers", "~110 req/s"),
    ("memory per worker", "~350 MiB"),
)

SYSTEM_PROMPT = "You are the support assistant of an online bookshop. Answer briefly and politely."
USER_PROMPT = (
    "A customer writes: my order of three paperbacks arrived yesterday, but one of them has "
    "a torn cover. Can I get a replacement without sending the whole parcel back? Please "
    "draft a short, friendly reply."
)

# The fake upstream, in its own process: no request log, the first POST body to a file.
UPSTREAM_CODE = textwrap.dedent(
    """
    import json, os, sys, threading
    sys.path.insert(0, os.getcwd())
    from tests.fake_upstream import FakeUpstream

    capture = sys.argv[1]

    class Upstream(FakeUpstream):
        captured = False

        def _record(self, request):
            with self._lock:
                self._count += 1
                if not self.captured and request.method == "POST":
                    self.captured = True
                    with open(capture + ".tmp", "w") as f:
                        json.dump({"path": request.path, "headers": request.headers,
                                   "json": request.json}, f)
                    os.replace(capture + ".tmp", capture)
                return self._count

    upstream = Upstream().start()
    print(upstream.url, flush=True)
    threading.Event().wait()
    """
)

MODELS_YAML = """\
models:
  local-llama:
    provider: bench-ollama
    type: local
    model_id: llama3
    capabilities: [general_reasoning, summarization, code_generation, classification]
    cost_per_1k_tokens: {input: 0, output: 0}
    context_window: 32000
    performance: {tokens_per_second: 40}
    timeout: 10
  cloud-gpt:
    provider: bench-openai
    type: cloud
    model_id: gpt-4o
    capabilities: [general_reasoning, summarization, code_generation, complex_reasoning]
    cost_per_1k_tokens: {input: 0.0025, output: 0.01}
    rate_limits: {requests_per_minute: 600, tokens_per_minute: 500000}
    context_window: 128000
    timeout: 10
"""

AGENTS_YAML = """\
agents:
  support_agent:
    name: "Support Agent"
    description: "Answers customers"
    model_preferences:
      primary: local-llama
      fallback: cloud-gpt
      local_alternative: local-llama
    routing_rules:
      - condition: "task.privacy_level == 'high'"
        model: local-llama
      - condition: "task.complexity > 8"
        model: cloud-gpt
    capabilities_required: [general_reasoning]
"""

LLM_ROUTING_YAML = """\
providers:
  local:
    bench-ollama:
      kind: ollama
      base_url: "{url}"
      default_model: llama3
      models: [llama3]
  premium:
    bench-openai:
      kind: openai_compatible
      base_url: "{url}/v1"
      api_key: "${{{key_env}}}"
      default_model: gpt-4o
      models: [gpt-4o]
cost_limits:
  daily_budget: 50.0
  monthly_budget: 1000.0
  warning_threshold: 0.8
  provider_limits:
    bench-openai: {{daily: 20.0, per_request: 0.5}}
  session_tokens: {{warning: 150000, switch_to_local: 180000}}
fallback_chain: [bench-ollama, bench-openai]
"""


# -- /proc ------------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of one process, in seconds (None once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def proc_children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_of(pids: list[int]) -> dict[int, float]:
    return {pid: cpu for pid in pids if (cpu := proc_cpu_s(pid)) is not None}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings; a process born in between counts from zero."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


# -- processes ----------------------------------------------------------------------------------


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"postgres://postgres@{HOST}:5432/{DB_NAME}",
        REDIS_URL=REDIS_URL,
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        ALLOWED_HOSTS=HOST,
        DJANGO_SETTINGS_MODULE="controlplane.settings",
        PYTHONUNBUFFERED="1",
    )
    env[CLOUD_KEY_ENV] = "sk-bench-not-a-real-key"
    env.update(extra or {})
    return env


def run(args: list[str], env: dict[str, str], *, timeout: float = 120) -> str:
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def stop(proc: subprocess.Popen[Any] | None, *, grace: float = 5.0) -> None:
    """SIGTERM our own process (group), then SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


def reset_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def postgres_backends() -> list[int]:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB_NAME]
        ).fetchall()
    return [r[0] for r in rows]


def start_upstream(workdir: Path) -> tuple[subprocess.Popen[str], str, Path]:
    capture = workdir / "upstream_request.json"
    proc = subprocess.Popen(
        [PYTHON, "-c", UPSTREAM_CODE, str(capture)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(workdir / "upstream.log").open("w"),
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        stop(proc)
        raise RuntimeError(f"the fake upstream did not start: {url!r}")
    return proc, url, capture


def start_gunicorn(
    env: dict[str, str], workdir: Path, workers: int, threads: int, *, app: str | None = None
) -> tuple[subprocess.Popen[str], str]:
    with socket.socket() as s:  # a free port, released for gunicorn
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    args = [
        GUNICORN,
        app or "controlplane.wsgi:application",
        "-b",
        f"{HOST}:{port}",
        "-w",
        str(workers),
        "-k",
        "gthread",
        "--threads",
        str(threads),
        "--access-logfile",
        "/dev/null",
        "--error-logfile",
        str(workdir / "gunicorn.log"),
    ]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, text=True, start_new_session=True)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}); see {workdir}/gunicorn.log")
        try:
            healthy = httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy and len(proc_children(proc.pid)) >= workers:
            return proc, url
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError("gunicorn did not answer /healthz within 30 s")


def configure(workdir: Path, env: dict[str, str], upstream_url: str) -> str:
    """Migrate, import the configuration, make an API key; returns the key."""
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    config = workdir / "config"
    config.mkdir()
    (config / "models.yaml").write_text(MODELS_YAML)
    (config / "agents.yaml").write_text(AGENTS_YAML)
    (config / "llm_routing.yaml").write_text(
        LLM_ROUTING_YAML.format(url=upstream_url, key_env=CLOUD_KEY_ENV)
    )
    shutil.copy(ROOT / "config" / "routing.yaml", config / "routing.yaml")
    run([PYTHON, "manage.py", "import_routing_config", str(config)], env)
    code = (
        "import django; django.setup(); "
        "from routing.services import api_key_create; "
        "print(api_key_create(name='bench').plaintext)"
    )
    return run([PYTHON, "-c", code], env).strip().splitlines()[-1]


# -- load -----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    label: str
    concurrency: int
    duration: float
    latencies_ms: list[float] = field(default_factory=list)  # in the timed window
    sent: int = 0  # every request, warm-up included
    statuses: Counter[str] = field(default_factory=Counter)
    client_cpu_s: float = 0.0  # this process (the load generator)
    server_cpu_s: float = 0.0  # gunicorn master and workers
    postgres_cpu_s: float = 0.0  # the bench database's backends
    upstream_cpu_s: float = 0.0  # the fake upstream process

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.duration

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        return data[min(len(data), max(1, math.ceil(q / 100 * len(data)))) - 1]  # nearest rank


def load(
    label: str,
    url: str,
    body: bytes | Callable[[int], bytes],
    headers: dict[str, str],
    *,
    concurrency: int,
    duration: float,
    warmup: float = WARMUP_S,
) -> LoadResult:
    """`concurrency` threads, each with its own keep-alive connection, for warm-up plus
    `duration` seconds; latencies are kept for requests that end in the timed window."""
    result = LoadResult(label, concurrency, duration)
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    times: dict[str, float] = {}

    def worker(index: int) -> None:
        payload = body(index) if callable(body) else body
        kept: list[float] = []
        statuses: Counter[str] = Counter()
        sent = 0
        with httpx.Client(
            headers=headers,
            timeout=30,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        ) as client:
            start.wait()
            warm_until, end = times["warm"], times["end"]
            while True:
                began = time.perf_counter()
                if began >= end:
                    break
                try:
                    status = str(client.post(url, content=payload).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                finished = time.perf_counter()
                sent += 1
                statuses[status] += 1
                if status == "200" and warm_until <= finished <= end:
                    kept.append((finished - began) * 1000)
        with lock:
            result.latencies_ms += kept
            result.statuses += statuses
            result.sent += sent

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    now = time.perf_counter()
    times["warm"] = now + warmup
    times["end"] = now + warmup + duration
    start.wait()
    for t in threads:
        t.join()
    result.client_cpu_s = time.process_time() - cpu0
    return result


def route_body(index: int) -> bytes:
    return json.dumps(
        {
            "agent": "support_agent",
            "session_id": f"bench-session-{index}",
            "max_tokens": 256,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": USER_PROMPT},
            ],
        }
    ).encode()


# -- checks -----------------------------------------------------------------------------------------


def correctness(route_requests: int, route_ok: int) -> list[tuple[str, str, bool]]:
    rows: list[tuple[str, str, bool]] = []
    with psycopg.connect(PG_BENCH) as conn:
        decisions = conn.execute("SELECT count(*) FROM routing_decision").fetchone()[0]
        outcomes = dict(
            conn.execute("SELECT outcome, count(*) FROM routing_decision GROUP BY 1").fetchall()
        )
        d_prompt, d_completion = conn.execute(
            "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) FROM routing_decision"
        ).fetchone()
        # The ledger is the money ledger: only calls that cost something write to it.
        p_prompt, p_completion, d_cost, d_billed = conn.execute(
            "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
            " coalesce(sum(cost_usd + fallback_tax_usd), 0),"
            " count(*) FILTER (WHERE outcome = 'success') FROM routing_decision WHERE cost_usd > 0"
        ).fetchone()
        ledger = {
            (scope, period): (int(p), int(c), cost, int(n))
            for scope, period, p, c, cost, n in conn.execute(
                "SELECT scope, period, sum(prompt_tokens), sum(completion_tokens),"
                " sum(cost_usd), sum(requests) FROM routing_spendledger GROUP BY 1, 2"
            ).fetchall()
        }
        sessions = conn.execute(
            "SELECT coalesce(sum(tokens), 0), count(*) FROM routing_sessionusage"
        ).fetchone()
    rows.append(
        (
            "Decision rows == route requests sent",
            f"{decisions} == {route_requests} ({dict(outcomes)}; {route_ok} answered 200)",
            decisions == route_requests,
        )
    )
    expected = (int(p_prompt), int(p_completion), d_cost, int(d_billed))
    for scope in ("global", "provider", "model", "agent"):
        for period in ("day", "month"):
            got = ledger.get((scope, period), (0, 0, 0, 0) if not d_billed else None)
            rows.append(
                (
                    f"ledger {scope}/{period} == sum of Decisions",
                    f"tokens {got[0] if got else '-'}+{got[1] if got else '-'}, "
                    f"${got[2] if got else '-'}, {got[3] if got else '-'} requests "
                    f"vs {expected[0]}+{expected[1]}, ${expected[2]}, {expected[3]}",
                    got == expected,
                )
            )
    rows.append(
        (
            "session tokens == Decision tokens",
            f"{int(sessions[0])} == {int(d_prompt) + int(d_completion)} over {sessions[1]} sessions",
            int(sessions[0]) == int(d_prompt) + int(d_completion),
        )
    )
    return rows


# -- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=15.0, help="timed seconds per run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=16, help="gunicorn threads per worker")
    args = parser.parse_args(argv)

    print(f"python      {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load before {load_average()} (the bench's own threads count in it, later)")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    upstream = server = None
    try:
        reset_database()
        redis.Redis.from_url(REDIS_URL).flushdb()
        env = bench_env()
        upstream, upstream_url, capture = start_upstream(workdir)
        key = configure(workdir, env, upstream_url)
        server, server_url = start_gunicorn(env, workdir, args.workers, args.threads)
        master = server.pid
        workers = proc_children(master)
        print(
            f"server      gunicorn -w {args.workers} -k gthread --threads {args.threads}, "
            f"workers {workers}; fake upstream {upstream_url} (pid {upstream.pid})"
        )

        route_url = f"{server_url}/api/route"
        route_headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        first = httpx.post(route_url, content=route_body(0), headers=route_headers, timeout=30)
        route_sent = 1
        answer = first.json()
        if first.status_code != 200 or answer.get("model_used") != "local-llama":
            raise RuntimeError(f"the first route request failed: {first.status_code} {answer}")
        deadline = time.monotonic() + 5
        while not capture.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = json.loads(capture.read_text())
        direct_url = upstream_url + seen["path"]
        direct_body = json.dumps(seen["json"]).encode()
        direct_headers = {
            k: v
            for k, v in seen["headers"].items()
            if k in ("content-type", "accept", "authorization")
        }
        print(f"route body  {len(route_body(0))} bytes; chain {answer['decision']['chain']}")
        print(f"upstream    POST {seen['path']} {len(direct_body)} bytes: {direct_body[:140]!r}...")

        results: dict[tuple[str, int], LoadResult] = {}
        for c in CONCURRENCY:
            for kind in ("direct", "route"):
                pids = [master, *proc_children(master)]
                before, pg_before = cpu_of(pids), cpu_of(postgres_backends())
                up_before = proc_cpu_s(upstream.pid) or 0.0
                if kind == "direct":
                    target = (direct_url, direct_body, direct_headers)
                else:
                    target = (route_url, route_body, route_headers)
                res = load(kind, *target, concurrency=c, duration=args.duration)
                if kind == "route":
                    route_sent += res.sent
                res.server_cpu_s = cpu_delta(before, cpu_of([master, *proc_children(master)]))
                res.postgres_cpu_s = cpu_delta(pg_before, cpu_of(postgres_backends()))
                res.upstream_cpu_s = (proc_cpu_s(upstream.pid) or 0.0) - up_before
                results[(kind, c)] = res

        worker_pids = proc_children(master)
        hwm = {pid: proc_status_kib(pid, "VmHWM") / 1024 for pid in worker_pids}
        rss = {pid: proc_status_kib(pid, "VmRSS") / 1024 for pid in worker_pids}
        master_hwm = proc_status_kib(master, "VmHWM") / 1024
        if sorted(worker_pids) != sorted(workers):
            print(f"NOTE        workers changed during the run: {workers} -> {worker_pids}")

        stop(server)
        server = None
        route_ok = sum(results[("route", c)].statuses["200"] for c in CONCURRENCY) + 1
        checks = correctness(route_sent, route_ok)

        report(args, results, hwm, rss, master_hwm, checks)
        print(f"load after  {load_average()}")
        print(f"wall time   {time.monotonic() - started:.0f} s")
        return 0 if all(ok for *_, ok in checks) else 1
    finally:
        stop(server)
        stop(upstream)
        try:
            drop_database()
        except psycopg.Error as exc:
            print(f"could not drop {DB_NAME}: {exc}", file=sys.stderr)
        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(REDIS_URL).flushdb()
        shutil.rmtree(workdir, ignore_errors=True)


def report(
    args: argparse.Namespace,
    results: dict[tuple[str, int], LoadResult],
    hwm: dict[int, float],
    rss: dict[int, float],
    master_hwm: float,
    checks: list[tuple[str, str, bool]],
) -> None:
    print()
    print(f"timed {args.duration:.0f} s per run after {WARMUP_S:.0f} s warm-up; latency in ms")
    print(
        f"{'run':<8}{'conc':>5}{'requests':>10}{'req/s':>9}{'p50':>9}{'p90':>9}{'p99':>9}"
        f"{'max':>9}  statuses"
    )
    for c in CONCURRENCY:
        for kind in ("direct", "route"):
            r = results[(kind, c)]
            print(
                f"{kind:<8}{c:>5}{len(r.latencies_ms):>10}{r.rps:>9.0f}{r.pct(50):>9.2f}"
                f"{r.pct(90):>9.2f}{r.pct(99):>9.2f}{max(r.latencies_ms, default=0):>9.2f}"
                f"  {dict(r.statuses)}"
            )
        d, r = results[("direct", c)], results[("route", c)]
        print(
            f"{'added':<8}{c:>5}{'':>10}{'':>9}{r.pct(50) - d.pct(50):>9.2f}"
            f"{r.pct(90) - d.pct(90):>9.2f}{r.pct(99) - d.pct(99):>9.2f}"
        )
    print()
    print("CPU per request (ms; all requests of the run, warm-up included)")
    print(f"{'run':<8}{'conc':>5}{'gunicorn':>10}{'postgres':>10}{'upstream':>10}{'client':>10}")
    for c in CONCURRENCY:
        for kind in ("direct", "route"):
            r = results[(kind, c)]
            n = max(1, r.sent)
            print(
                f"{kind:<8}{c:>5}{r.server_cpu_s / n * 1000:>10.2f}{r.postgres_cpu_s / n * 1000:>10.2f}"
                f"{r.upstream_cpu_s / n * 1000:>10.2f}{r.client_cpu_s / n * 1000:>10.2f}"
            )
    peak = max(hwm.values(), default=0.0)
    workers = ", ".join(f"{pid}: {hwm[pid]:.1f} (RSS {rss[pid]:.1f})" for pid in sorted(hwm))
    print(f"peak memory per worker (VmHWM, MiB): {workers}; master {master_hwm:.1f}")
    print()
    for name, detail, ok in checks:
        print(f"check  {'ok  ' if ok else 'FAIL'}  {name}: {detail}")
    print()
    added = results[("route", 1)].pct(50) - results[("direct", 1)].pct(50)
    rps = results[("route", 32)].rps
    verdicts = (
        (
            f"added p50 at concurrency 1 <= {TARGET_ADDED_P50_MS:g} ms",
            f"{added:.2f} ms",
            added <= TARGET_ADDED_P50_MS,
        ),
        (f">= {TARGET_RPS:g} req/s at concurrency 32", f"{rps:.0f} req/s", rps >= TARGET_RPS),
        (
            f"<= {TARGET_WORKER_MIB:g} MiB per worker",
            f"{peak:.1f} MiB",
            peak <= TARGET_WORKER_MIB,
        ),
    )
    for name, value, ok in verdicts:
        print(f"target  {name}: {'MEETS' if ok else 'MISSES'} ({value})")
    print()
    print("reference, NOT measured here: LiteLLM proxy's published figures, for scale")
    for name, value in LITELLM:
        print(f"  LiteLLM {name}: {value}")


if __name__ == "__main__":
    sys.exit(main())
