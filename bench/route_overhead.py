"""What Switchboard adds over calling the same upstream model directly: `POST /api/route`,
and `POST /v1/chat/completions`, streamed and not.

    .venv/bin/python bench/route_overhead.py [--endpoints route,chat,chat-stream]
        [--duration 10] [--workers 2] [--threads 16]

Production-style, on this machine only (127.0.0.1):

1. a fresh PostgreSQL database `switchboard_bench` (dropped first if it exists), Redis
   database 15 (flushed), DEBUG off, `manage.py migrate`;
2. the fake upstream (`tests/fake_upstream.py`, which speaks Ollama's /api/chat, plain and
   NDJSON-streamed) in a separate process, so its CPU is not the server's and it shares no
   GIL with the load generator; it keeps no request log (the stock one grows without
   bound) but, when armed (GET /bench/arm), writes the next POST it receives to a file:
   the bench arms it before each endpoint's first request, so it captures exactly what
   Switchboard sent upstream for that endpoint;
3. a configuration directory (tmp) with a local Ollama-kind provider and model ($0) and a
   cloud OpenAI-compatible one on the same fake upstream, an agent, the seed's
   `routing.yaml` (strategies, the four global rules) and budgets, imported with
   `manage.py import_routing_config`; an API key made with `api_key_create`;
4. granian (WSGI), `--workers W --blocking-threads T`, access log off, until /healthz
   answers;
5. a load generator in this process: one thread and one keep-alive `httpx.Client` per
   concurrent client. At concurrency 1 for every endpoint, then at 32 for every endpoint
   (see `run_all` on why), after a warm-up, for `--duration` seconds each: (a) the fake
   upstream directly with exactly the body and headers Switchboard sent it for that
   endpoint (captured in step 2), (b) Switchboard:
   - `route`: `POST /api/route` with an agent, a session, `max_tokens` and two messages
     (about 300 characters);
   - `chat`: `POST /v1/chat/completions` with the same messages, `"model"` the agent and
     the session in `metadata`;
   - `chat-stream`: the same with `"stream": true`, read to the end (`data: [DONE]`); its
     direct call is the upstream's own stream (Ollama NDJSON, `"stream": true`), read to
     the end (`"done": true`).
   Latency is per request, on the wall clock, in this process, to the end of the body.
   For streams, the time to the first content chunk (TTFT: the first NDJSON line or SSE
   event whose text is not empty) is kept too, and so is the rest (end minus TTFT);
6. server CPU per request: utime + stime of the granian main process and its workers from
   /proc/<pid>/stat, before and after each run, divided by the requests of that run
   (warm-up included: all of them ran in the server). The PostgreSQL backends of the
   bench database are counted apart (read every 0.2 s, since Django replaces a
   connection after CONN_MAX_AGE, 60 s), and so are the fake upstream and this process.
   Peak memory per worker: VmHWM from /proc/<pid>/status, reset (`clear_refs` 5) before
   each endpoint, so each endpoint gets its own peak;
7. correctness: one Decision row per request sent to Switchboard, per endpoint (by the
   session id's prefix) and in all, and the spend ledger, the session usage and the
   Decision rows agree;
8. every process stopped and the database dropped, whatever happened.

The load generator shares the machine (and at concurrency 32 its GIL is busy): read the
Switchboard-minus-direct difference, not the absolute latencies, and note the load
average at the start of each run (the `load` column) and what the server logged during
each run (a Redis timeout, for one, means Redis was skipped for 30 s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from any directory
    sys.path.insert(0, str(ROOT))

from bench import _harness  # noqa: E402
from bench._harness import (  # noqa: E402
    HOST,
    PG_ADMIN,
    ServerLog,
    bench_env,
    cpu_delta,
    cpu_of,
    load_average,
    pct,
    pg_url,
    proc_children,
    proc_cpu_s,
    proc_status_kib,
    start_server,
    stop,
)

DB_NAME = "switchboard_bench"
PG_BENCH = pg_url(DB_NAME)
REDIS_URL = f"redis://{HOST}:6379/15"
CLOUD_KEY_ENV = "BENCH_CLOUD_API_KEY"
CONCURRENCY = (1, 32)
WARMUP_S = 2.0
AGENT = "support_agent"
LOCAL_MODEL = "local-llama"

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

# The fake upstream, in its own process: no request log; GET /bench/arm makes it write the
# next POST it receives (headers and body) to a file. It starts armed.
UPSTREAM_CODE = textwrap.dedent(
    """
    import json, os, sys, threading
    sys.path.insert(0, os.getcwd())
    from tests import fake_upstream
    from tests.fake_upstream import FakeUpstream

    capture = sys.argv[1]

    class Upstream(FakeUpstream):
        armed = True

        def _record(self, request):
            with self._lock:
                self._count += 1
                if request.path == "/bench/arm":
                    self.armed = True
                elif self.armed and request.method == "POST":
                    self.armed = False
                    with open(capture + ".tmp", "w") as f:
                        json.dump({"path": request.path, "headers": request.headers,
                                   "json": request.json}, f)
                    os.replace(capture + ".tmp", capture)
                return self._count

    def arm(handler, name, body, faults):
        handler._send_json(200, {"armed": True})

    fake_upstream._ROUTES[("GET", "/bench/arm")] = ("openai", arm)
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


# -- processes ----------------------------------------------------------------------------------


def reset_database() -> None:
    _harness.reset_database(DB_NAME)


def drop_database() -> None:
    _harness.drop_database(DB_NAME)


class PostgresCpu:
    """CPU of the bench database's PostgreSQL backends over one run. Django closes a
    connection older than CONN_MAX_AGE (60 s) when a request ends, so backends come and go
    during a run: a thread reads them every `interval` seconds, and one that exits loses
    only what it used since its last reading. One born during the run counts from zero."""

    def __init__(self, interval: float = 0.2) -> None:
        self._conn = psycopg.connect(PG_ADMIN, autocommit=True)
        self._interval = interval
        self._first = cpu_of(self._pids())
        self._last = dict(self._first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _pids(self) -> list[int]:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [DB_NAME]
        ).fetchall()
        return [r[0] for r in rows]

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._last.update(cpu_of(self._pids()))

    def stop(self) -> float:
        """Seconds of CPU the backends used since the start."""
        self._stop.set()
        self._thread.join()
        self._last.update(cpu_of(self._pids()))
        self._conn.close()
        return sum(cpu - self._first.get(pid, 0.0) for pid, cpu in self._last.items())


def start_upstream(workdir: Path) -> tuple[subprocess.Popen[str], str, Path]:
    capture = workdir / "upstream_request.json"
    proc, url = _harness.start_upstream(workdir, UPSTREAM_CODE, str(capture))
    return proc, url, capture


def configure(workdir: Path, env: dict[str, str], upstream_url: str) -> str:
    """Migrate, import the configuration, make an API key; returns the key."""
    config = workdir / "config"
    config.mkdir()
    (config / "models.yaml").write_text(MODELS_YAML)
    (config / "agents.yaml").write_text(AGENTS_YAML)
    (config / "llm_routing.yaml").write_text(
        LLM_ROUTING_YAML.format(url=upstream_url, key_env=CLOUD_KEY_ENV)
    )
    shutil.copy(ROOT / "config" / "routing.yaml", config / "routing.yaml")
    return _harness.configure(env, config)


# -- endpoints ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str  # as given to --endpoints; also the session ids' prefix
    label: str  # its rows in the tables
    path: str
    stream: bool
    title: str


ENDPOINTS = {
    e.name: e
    for e in (
        Endpoint("route", "route", "/api/route", False, "POST /api/route"),
        Endpoint("chat", "chat", "/v1/chat/completions", False, "POST /v1/chat/completions"),
        Endpoint(
            "chat-stream",
            "stream",
            "/v1/chat/completions",
            True,
            'POST /v1/chat/completions with "stream": true (SSE)',
        ),
    )
}


def session_prefix(endpoint: Endpoint) -> str:
    """No endpoint's prefix may begin another's (`chat` and `chat-stream`)."""
    return f"bench/{endpoint.name}/"


def switchboard_body(endpoint: Endpoint, index: int) -> bytes:
    """The request a client sends Switchboard: the same agent, messages and max_tokens on
    every endpoint, and one session per client and endpoint."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_PROMPT},
    ]
    session = f"{session_prefix(endpoint)}{index}"
    if endpoint.name == "route":
        body: dict[str, Any] = {
            "agent": AGENT,
            "session_id": session,
            "max_tokens": 256,
            "messages": messages,
        }
    else:
        body = {
            "model": AGENT,
            "messages": messages,
            "max_tokens": 256,
            "metadata": {"session_id": session},
        }
        if endpoint.stream:
            body["stream"] = True
    return json.dumps(body).encode()


# -- requests ---------------------------------------------------------------------------------------

# One request on a client: its status ("200" only when it was whole) and, for a stream,
# the perf_counter() at which the first content chunk arrived.
Call = Callable[[httpx.Client, str, bytes], tuple[str, float | None]]


def call_plain(client: httpx.Client, url: str, payload: bytes) -> tuple[str, float | None]:
    return str(client.post(url, content=payload).status_code), None


def _content(wire: str, line: str) -> bool:
    """Whether one stream line carries answer text."""
    if wire == "ndjson":  # Ollama: {"message": {"content": ...}, "done": false}
        data = json.loads(line)
        return not data.get("done") and bool((data.get("message") or {}).get("content"))
    if not line.startswith("data:") or line == "data: [DONE]":  # OpenAI SSE chunks
        return False
    data = json.loads(line[5:])
    return any((c.get("delta") or {}).get("content") for c in data.get("choices") or ())


def _complete(wire: str, last: str) -> bool:
    """Whether the stream's last line is its proper end."""
    if wire == "ndjson":
        return bool(last) and json.loads(last).get("done") is True
    return last == "data: [DONE]"


def stream_call(wire: str) -> Call:
    """A streamed POST read to the end; lines are decoded until the first content."""

    def call(client: httpx.Client, url: str, payload: bytes) -> tuple[str, float | None]:
        first_at: float | None = None
        last = ""
        with client.stream("POST", url, content=payload) as response:
            if response.status_code != 200:
                response.read()
                return str(response.status_code), None
            for line in response.iter_lines():
                if not line:
                    continue
                last = line
                if first_at is None and _content(wire, line):
                    first_at = time.perf_counter()
        if first_at is None:
            return "200 without content", None
        if not _complete(wire, last):
            return "200 unfinished", None
        return "200", first_at

    return call


# -- load -----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    label: str
    concurrency: int
    duration: float
    latencies_ms: list[float] = field(default_factory=list)  # in the timed window
    ttft_ms: list[float] = field(default_factory=list)  # streams: same requests, same order
    sent: int = 0  # every request, warm-up included
    statuses: Counter[str] = field(default_factory=Counter)
    client_cpu_s: float = 0.0  # this process (the load generator)
    server_cpu_s: float = 0.0  # granian main process and workers
    postgres_cpu_s: float = 0.0  # the bench database's backends
    upstream_cpu_s: float = 0.0  # the fake upstream process
    server_log: Counter[str] = field(default_factory=Counter)  # warnings during the run
    load_before: float = 0.0  # 1-minute load average at the start

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.duration

    @property
    def rest_ms(self) -> list[float]:
        """Streams: from the first content chunk to the end, per request."""
        return [t - f for t, f in zip(self.latencies_ms, self.ttft_ms, strict=True)]

    def pct(self, q: float) -> float:
        return pct(self.latencies_ms, q)


def load(
    label: str,
    url: str,
    body: bytes | Callable[[int], bytes],
    headers: Mapping[str, str],
    call: Call,
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
        ttfts: list[float] = []
        statuses: Counter[str] = Counter()
        sent = 0
        with httpx.Client(
            headers=dict(headers),
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
                    status, first_at = call(client, url, payload)
                except httpx.HTTPError as exc:
                    status, first_at = type(exc).__name__, None
                finished = time.perf_counter()
                sent += 1
                statuses[status] += 1
                if status == "200" and warm_until <= finished <= end:
                    kept.append((finished - began) * 1000)
                    if first_at is not None:
                        ttfts.append((first_at - began) * 1000)
        with lock:
            result.latencies_ms += kept
            result.ttft_ms += ttfts
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


@dataclass
class Target:
    """Both sides of one endpoint's comparison."""

    endpoint: Endpoint
    url: str
    headers: dict[str, str]
    call: Call
    direct_url: str
    direct_body: bytes
    direct_headers: dict[str, str]
    direct_call: Call
    note: str  # what the first request showed


def first_request(endpoint: Endpoint, url: str, headers: dict[str, str]) -> str:
    """One request through Switchboard before the runs: it must be answered by the local
    model, and it is the one the fake upstream captures."""
    body = switchboard_body(endpoint, 0)
    if endpoint.stream:
        with httpx.stream("POST", url, content=body, headers=headers, timeout=30) as response:
            model = response.headers.get("x-switchboard-model")
            lines = [line for line in response.iter_lines() if line]
        content = sum(_content("sse", line) for line in lines)
        if (
            response.status_code != 200
            or model != LOCAL_MODEL
            or not _complete("sse", (lines or [""])[-1])
        ):
            raise RuntimeError(
                f"the first {endpoint.name} request failed: {response.status_code} {lines[-3:]}"
            )
        return f"model {model} (X-Switchboard-Model), {content} content events, then data: [DONE]"
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    answer = response.json()
    if endpoint.name == "route":
        model, chain = answer.get("model_used"), (answer.get("decision") or {}).get("chain")
        strategy = (answer.get("decision") or {}).get("strategy")
    else:
        block = answer.get("switchboard") or {}
        model, chain, strategy = answer.get("model"), block.get("chain"), block.get("strategy")
    if response.status_code != 200 or model != LOCAL_MODEL:
        raise RuntimeError(
            f"the first {endpoint.name} request failed: {response.status_code} {answer}"
        )
    return f"model {model}, strategy {strategy}, chain {chain}"


def set_up(
    endpoint: Endpoint, server_url: str, key: str, upstream_url: str, capture: Path
) -> tuple[Target, int]:
    """Arm the fake upstream's capture, send the first request, and build the direct call
    from what Switchboard sent upstream. Returns the target and the requests sent."""
    url = server_url + endpoint.path
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    capture.unlink(missing_ok=True)
    httpx.get(f"{upstream_url}/bench/arm", timeout=5).raise_for_status()
    note = first_request(endpoint, url, headers)
    deadline = time.monotonic() + 5
    while not capture.exists() and time.monotonic() < deadline:
        _harness.pause(0.05)
    seen = json.loads(capture.read_text())
    upstream_stream = bool((seen["json"] or {}).get("stream"))
    if seen["path"] != "/api/chat" or upstream_stream != endpoint.stream:
        raise RuntimeError(f"unexpected upstream request for {endpoint.name}: {seen}")
    target = Target(
        endpoint=endpoint,
        url=url,
        headers=headers,
        call=stream_call("sse") if endpoint.stream else call_plain,
        direct_url=upstream_url + seen["path"],
        direct_body=json.dumps(seen["json"]).encode(),
        direct_headers={
            k: v
            for k, v in seen["headers"].items()
            if k in ("content-type", "accept", "authorization")
        },
        direct_call=stream_call("ndjson") if endpoint.stream else call_plain,
        note=note,
    )
    return target, 1


def reset_peak_memory(pids: list[int]) -> bool:
    """Set each process's VmHWM back to its current RSS (proc(5), clear_refs 5)."""
    ok = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


@dataclass
class EndpointRun:
    target: Target
    results: dict[tuple[str, int], LoadResult] = field(default_factory=dict)  # (kind, conc)
    sent: int = 0  # requests sent to Switchboard, the first ones included
    answered: int = 0  # of which whole 200s
    hwm: dict[int, float] = field(default_factory=dict)  # worker pid -> peak MiB
    rss: dict[int, float] = field(default_factory=dict)
    hwm_reset: bool = True


def run_all(
    runs: list[EndpointRun], master: int, upstream_pid: int, duration: float, log: ServerLog
) -> None:
    """Every endpoint at concurrency 1, then every endpoint at concurrency 32. At 32 the
    machine is saturated and a Redis call can exceed its 0.1 s timeout, after which the
    worker skips Redis for 30 s (resilient_cache): run after that, a concurrency-1 run
    would be measured without its Redis calls."""
    for c in CONCURRENCY:
        for run in runs:
            for kind in ("direct", "switchboard"):
                run.results[(kind, c)] = measure(run, kind, c, master, upstream_pid, duration, log)


def measure(
    run: EndpointRun,
    kind: str,
    c: int,
    master: int,
    upstream_pid: int,
    duration: float,
    log: ServerLog,
) -> LoadResult:
    target, endpoint = run.target, run.target.endpoint
    print(f"... {endpoint.name} {kind} at concurrency {c}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    workers = proc_children(master)
    if kind == "switchboard":  # each endpoint's own peak memory
        run.hwm_reset = reset_peak_memory(workers) and run.hwm_reset
    before, postgres = cpu_of([master, *workers]), PostgresCpu()
    log.read()  # what came before this run is not its doing
    up_before = proc_cpu_s(upstream_pid) or 0.0
    if kind == "direct":
        args = (target.direct_url, target.direct_body, target.direct_headers)
        res = load(kind, *args, target.direct_call, concurrency=c, duration=duration)
    else:
        res = load(
            endpoint.label,
            target.url,
            lambda i: switchboard_body(endpoint, i),
            target.headers,
            target.call,
            concurrency=c,
            duration=duration,
        )
        run.sent += res.sent
        run.answered += res.statuses["200"]
    workers = proc_children(master)
    res.server_cpu_s = cpu_delta(before, cpu_of([master, *workers]))
    res.postgres_cpu_s = postgres.stop()
    res.upstream_cpu_s = (proc_cpu_s(upstream_pid) or 0.0) - up_before
    res.server_log = log.read()
    res.load_before = load_before
    if kind == "switchboard":
        for pid in workers:
            run.hwm[pid] = max(run.hwm.get(pid, 0.0), proc_status_kib(pid, "VmHWM") / 1024)
            run.rss[pid] = proc_status_kib(pid, "VmRSS") / 1024
    return res


# -- checks -----------------------------------------------------------------------------------------


def correctness(runs: list[EndpointRun]) -> list[tuple[str, str, bool]]:
    rows: list[tuple[str, str, bool]] = []
    with psycopg.connect(PG_BENCH) as conn:
        decisions = conn.execute("SELECT count(*) FROM routing_decision").fetchone()[0]
        per_endpoint = {}
        for r in runs:
            prefix = session_prefix(r.target.endpoint)
            per_endpoint[r.target.endpoint.name] = (
                conn.execute(
                    "SELECT count(*) FROM routing_decision WHERE session_id LIKE %s",
                    [prefix + "%"],
                ).fetchone()[0],
                dict(
                    conn.execute(
                        "SELECT outcome || CASE WHEN cached THEN ' (cached)' ELSE '' END,"
                        " count(*) FROM routing_decision WHERE session_id LIKE %s GROUP BY 1",
                        [prefix + "%"],
                    ).fetchall()
                ),
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
    for r in runs:
        rows_of, outcomes = per_endpoint[r.target.endpoint.name]
        rows.append(
            (
                f"Decision rows == {r.target.endpoint.name} requests sent",
                f"{rows_of} == {r.sent} ({outcomes}; {r.answered} answered 200 in full)",
                rows_of == r.sent,
            )
        )
    total = sum(r.sent for r in runs)
    rows.append(
        (
            "Decision rows == requests sent, all endpoints",
            f"{decisions} == {total}",
            decisions == total,
        )
    )
    expected = (int(p_prompt), int(p_completion), d_cost, int(d_billed))
    for scope in ("global", "provider", "model", "agent"):
        for period in ("day", "month"):
            got = ledger.get((scope, period), (0, 0, 0, 0) if not d_billed else None)
            rows.append(
                (
                    f"ledger {scope}/{period} == sum of paid Decisions",
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


def parse_endpoints(value: str) -> list[Endpoint]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENDPOINTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown endpoint(s) {unknown}; choose among {', '.join(ENDPOINTS)}"
        )
    return [ENDPOINTS[n] for n in dict.fromkeys(names)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument(
        "--endpoints",
        type=parse_endpoints,
        default=list(ENDPOINTS.values()),
        help=f"comma-separated, among {','.join(ENDPOINTS)} (default: all)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="timed seconds per run")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--threads", type=int, default=16, help="granian threads per worker")
    args = parser.parse_args(argv)

    print(f"python      {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"load before {load_average()} (the bench's own threads count in it, later)")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    upstream = server = None
    try:
        reset_database()
        redis.Redis.from_url(REDIS_URL).flushdb()
        env = bench_env(DB_NAME, REDIS_URL, {CLOUD_KEY_ENV: "sk-bench-not-a-real-key"})
        upstream, upstream_url, capture = start_upstream(workdir)
        key = configure(workdir, env, upstream_url)
        server, server_url = start_server(env, workdir, args.workers, args.threads)
        master = server.pid
        workers = proc_children(master)
        print(
            f"server      granian --workers {args.workers} --blocking-threads {args.threads}, "
            f"workers {workers}; fake upstream {upstream_url} (pid {upstream.pid})"
        )
        startup_hwm = {pid: proc_status_kib(pid, "VmHWM") / 1024 for pid in workers}

        runs: list[EndpointRun] = []
        for endpoint in args.endpoints:
            target, first_sent = set_up(endpoint, server_url, key, upstream_url, capture)
            runs.append(EndpointRun(target, sent=first_sent, answered=first_sent))
        run_all(runs, master, upstream.pid, args.duration, ServerLog(workdir))

        worker_pids = proc_children(master)
        master_hwm = proc_status_kib(master, "VmHWM") / 1024
        if sorted(worker_pids) != sorted(workers):
            print(f"NOTE        workers changed during the run: {workers} -> {worker_pids}")

        stop(server)
        server = None
        checks = correctness(runs)

        report(args, runs, startup_hwm, master_hwm, checks)
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


# -- report -----------------------------------------------------------------------------------------

HEADER = (
    f"{'run':<8}{'conc':>5}{'requests':>10}{'req/s':>9}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}"
)


def _latency_rows(
    runs: dict[tuple[str, int], LoadResult],
    label: str,
    of: Callable[[LoadResult], list[float]],
    *,
    statuses: bool,
) -> None:
    for c in CONCURRENCY:
        for kind in ("direct", "switchboard"):
            r = runs[(kind, c)]
            data = of(r)
            rps = f"{r.rps:>9.0f}" if statuses else f"{'':>9}"  # the first table has it
            print(
                f"{'direct' if kind == 'direct' else label:<8}{c:>5}{len(data):>10}{rps}"
                f"{pct(data, 50):>9.2f}{pct(data, 90):>9.2f}{pct(data, 99):>9.2f}"
                f"{max(data, default=0):>9.2f}"
                + (f"{r.load_before:>6.1f}  {dict(r.statuses)}" if statuses else "")
            )
        d, s = of(runs[("direct", c)]), of(runs[("switchboard", c)])
        print(
            f"{'added':<8}{c:>5}{'':>10}{'':>9}{pct(s, 50) - pct(d, 50):>9.2f}"
            f"{pct(s, 90) - pct(d, 90):>9.2f}{pct(s, 99) - pct(d, 99):>9.2f}"
        )


def report(
    args: argparse.Namespace,
    runs: list[EndpointRun],
    startup_hwm: dict[int, float],
    master_hwm: float,
    checks: list[tuple[str, str, bool]],
) -> None:
    print()
    print(f"timed {args.duration:g} s per run after {WARMUP_S:g} s warm-up; latency in ms")
    summary: list[tuple[str, ...]] = []
    for run in runs:
        t, res = run.target, run.results
        label = t.endpoint.label
        print()
        print(f"== {t.endpoint.name}: {t.endpoint.title}")
        print(f"   first request: {t.note}")
        print(
            f"   direct: POST /{t.direct_url.split('/', 3)[3]} on the fake upstream, "
            f"{len(t.direct_body)} bytes{', streamed (NDJSON), read to the end' if t.endpoint.stream else ''}"
        )
        print(HEADER + "  load  statuses")
        _latency_rows(res, label, lambda r: r.latencies_ms, statuses=True)
        if t.endpoint.stream:
            print("time to the first content chunk (TTFT)")
            print(HEADER)
            _latency_rows(res, label, lambda r: r.ttft_ms, statuses=False)
            print("from the first content chunk to the end of the stream")
            print(HEADER)
            _latency_rows(res, label, lambda r: r.rest_ms, statuses=False)
        print("CPU per request (ms; all requests of the run, warm-up included)")
        print(f"{'run':<8}{'conc':>5}{'server':>10}{'postgres':>10}{'upstream':>10}{'client':>10}")
        for c in CONCURRENCY:
            for kind in ("direct", "switchboard"):
                r = res[(kind, c)]
                n = max(1, r.sent)
                print(
                    f"{'direct' if kind == 'direct' else label:<8}{c:>5}"
                    f"{r.server_cpu_s / n * 1000:>10.2f}{r.postgres_cpu_s / n * 1000:>10.2f}"
                    f"{r.upstream_cpu_s / n * 1000:>10.2f}{r.client_cpu_s / n * 1000:>10.2f}"
                )
        logged = [
            (kind, c, message, n)
            for c in CONCURRENCY
            for kind in ("direct", "switchboard")
            for message, n in sorted(res[(kind, c)].server_log.items())
        ]
        for kind, c, message, n in logged:
            who = "direct" if kind == "direct" else label
            print(f"server log during {who} at concurrency {c}: {n} x {message}")
        if any("resilient_cache" in message for *_, message, _ in logged):
            print(
                "   (after a cache error, that worker leaves Redis alone for 30 s, "
                "also in the runs that follow)"
            )
        peak = max(run.hwm.values(), default=0.0)
        workers = ", ".join(
            f"{pid}: {run.hwm[pid]:.1f} (RSS {run.rss[pid]:.1f})" for pid in sorted(run.hwm)
        )
        since = "during these runs" if run.hwm_reset else "since start (clear_refs failed)"
        print(f"peak memory per worker {since} (VmHWM, MiB): {workers}")
        added = res[("switchboard", 1)].pct(50) - res[("direct", 1)].pct(50)
        rps = res[("switchboard", 32)].rps
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
            print(f"target  {t.endpoint.name}: {name}: {'MEETS' if ok else 'MISSES'} ({value})")
        ttft = "-"
        if t.endpoint.stream:
            parts = []
            for c in CONCURRENCY:
                d, s = res[("direct", c)].ttft_ms, res[("switchboard", c)].ttft_ms
                parts.append(
                    f"{pct(s, 50) - pct(d, 50):.2f} / {pct(s, 99) - pct(d, 99):.2f} ms at concurrency {c}"
                )
            print(
                f"ttft    {t.endpoint.name}: added TTFT p50 / p99: {'; '.join(parts)} (no target)"
            )
            ttft = f"{pct(res[('switchboard', 1)].ttft_ms, 50) - pct(res[('direct', 1)].ttft_ms, 50):.2f}"
        s1, d1 = res[("switchboard", 1)], res[("direct", 1)]
        summary.append(
            (
                t.endpoint.name,
                f"{added:.2f}",
                f"{s1.pct(99) - d1.pct(99):.2f}",
                ttft,
                f"{rps:.0f}",
                f"{s1.server_cpu_s / max(1, s1.sent) * 1000:.2f}",
                f"{res[('switchboard', 32)].server_cpu_s / max(1, res[('switchboard', 32)].sent) * 1000:.2f}",
                f"{peak:.1f}",
            )
        )
    print()
    print(
        "summary (ms unless said; added = Switchboard minus direct; CPU = the server (granian + Django) per request)"
    )
    heads = (
        "endpoint",
        "added p50",
        "added p99",
        "added TTFT",
        "req/s",
        "CPU c=1",
        "CPU c=32",
        "MiB",
    )
    print(f"{heads[0]:<13}" + "".join(f"{h:>12}" for h in heads[1:]))
    print(
        f"{'':<13}" + "".join(f"{h:>12}" for h in ("c=1", "c=1", "p50 c=1", "c=32", "", "", "peak"))
    )
    for row in summary:
        print(f"{row[0]:<13}" + "".join(f"{v:>12}" for v in row[1:]))
    overall = max([*startup_hwm.values(), *(v for r in runs for v in r.hwm.values())], default=0.0)
    print(
        f"peak memory per worker over the whole run (VmHWM, MiB): {overall:.1f}; "
        f"after start-up {max(startup_hwm.values(), default=0.0):.1f}; master {master_hwm:.1f}"
    )
    print()
    for name, detail, ok in checks:
        print(f"check  {'ok  ' if ok else 'FAIL'}  {name}: {detail}")
    print()
    print("reference, NOT measured here: LiteLLM proxy's published figures, for scale")
    for name, value in LITELLM:
        print(f"  LiteLLM {name}: {value}")


if __name__ == "__main__":
    sys.exit(main())
