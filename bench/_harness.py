"""What the production-style benchmarks share: a fresh PostgreSQL database, granian
workers on 127.0.0.1, the fake upstream in a process of its own, the configuration
imported with `import_routing_config`, readings from /proc, and the server's log.

Used by `route_overhead.py` and `load_test.py`. Nothing here listens beyond 127.0.0.1,
and every process it starts runs in its own session, so `stop()` ends it and its
children whatever happens.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GRANIAN = str(Path(PYTHON).with_name("granian"))
HOST = "127.0.0.1"
PG_ADMIN = f"postgresql://postgres@{HOST}:5432/postgres"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pause(seconds: float) -> None:
    """Wait between polls of something another process is doing (no sleep in the
    request path: only the benchmarks' start-up and checks poll)."""
    threading.Event().wait(seconds)


def pg_url(database: str) -> str:
    return f"postgresql://postgres@{HOST}:5432/{database}"


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
    """A field of /proc/<pid>/status in KiB (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
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


def pct(data: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    data = sorted(data)
    if not data:
        return float("nan")
    return data[min(len(data), max(1, math.ceil(q / 100 * len(data)))) - 1]


# -- processes ----------------------------------------------------------------------------------


def bench_env(database: str, redis_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Switchboard process of a run: production settings
    (DEBUG off) on `database` and `redis_url`, and nothing inherited that could change
    Switchboard's behaviour (SWITCHBOARD_*, DJANGO_*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"postgres://postgres@{HOST}:5432/{database}",
        REDIS_URL=redis_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        ALLOWED_HOSTS=HOST,
        DJANGO_SETTINGS_MODULE="controlplane.settings",
        PYTHONUNBUFFERED="1",
        # ServerLog counts warnings by message: plain lines, so equal messages group.
        LOG_FORMAT="plain",
    )
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


def reset_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_upstream(workdir: Path, code: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """The fake upstream in its own process: `code` (run with `python -c`, the project
    root as its working directory) starts it and prints its URL as its first line."""
    proc = subprocess.Popen(
        [PYTHON, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(workdir / "upstream.log").open("w"),
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith(f"http://{HOST}:"):
        stop(proc)
        raise RuntimeError(f"the fake upstream did not start: {url!r}; see {workdir}/upstream.log")
    return proc, url


def start_server(
    env: dict[str, str],
    workdir: Path,
    workers: int,
    threads: int,
    *,
    app: str | None = None,
    ready_within: float = 30,
) -> tuple[subprocess.Popen[str], str]:
    """granian (WSGI, `workers` processes of `threads` threads, access log off), as in
    docker-compose, on a free port of 127.0.0.1, once /healthz answers and every worker
    is up. granian's log and Django's (both on stderr) go to workdir/server.stderr."""
    with socket.socket() as s:  # a free port, released for granian
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    args = [
        GRANIAN,
        "--interface",
        "wsgi",
        app or "controlplane.wsgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "--no-access-log",
    ]
    with (workdir / "server.stderr").open("a") as stderr:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, text=True, stderr=stderr, start_new_session=True
        )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"granian exited ({proc.returncode}); see {workdir}/server.stderr")
        try:
            healthy = httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy and len(proc_children(proc.pid)) >= workers:
            return proc, url
        pause(0.1)
    stop(proc)
    raise RuntimeError(f"granian did not answer /healthz within {ready_within:g} s")


def configure(env: dict[str, str], config_dir: Path, key_name: str = "bench") -> str:
    """Migrate, import the configuration directory, make an API key; returns the key."""
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    run([PYTHON, "manage.py", "import_routing_config", str(config_dir)], env)
    code = (
        "import django; django.setup(); "
        "from routing.services import api_key_create; "
        f"print(api_key_create(name={key_name!r}).plaintext)"
    )
    return run([PYTHON, "-c", code], env).strip().splitlines()[-1]


# -- the server's log ---------------------------------------------------------------------------

# Django's "2026-11-25 10:04:27,970 ".
LOG_STAMP = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ ")


class ServerLog:
    """What the server logged (granian's and Django's lines, both on stderr) since the last
    call: warnings and errors, by message, timestamps dropped."""

    def __init__(self, workdir: Path) -> None:
        self._files = {workdir / "server.stderr": 0}

    def read(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for path, offset in self._files.items():
            try:
                with path.open(errors="replace") as f:
                    f.seek(offset)
                    text = f.read()
                    self._files[path] = f.tell()
            except OSError:
                continue
            for line in text.splitlines():
                if any(level in line for level in ("WARNING", "ERROR", "CRITICAL", "Traceback")):
                    found[LOG_STAMP.sub("", line).strip()[:160]] += 1
        return found
