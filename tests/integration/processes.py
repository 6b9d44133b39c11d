"""Real Switchboard processes for the multi-process tests: granian web servers and a
Celery worker on 127.0.0.1, sharing one PostgreSQL database and one Redis database.

Every process runs in a session of its own, writes its output to a log file, and is
stopped (SIGTERM, then SIGKILL) whatever happens. Nothing waits with a fixed sleep:
`wait_until` polls a condition until a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
HOST = "127.0.0.1"
# A Redis database of their own: flushed when the processes start, so no other test's
# keys (nor these tests' Celery queue) mix with them. One run at a time per Redis server.
REDIS_DB = 14
WEB_THREADS = 8  # gthread threads per web process; the tests' concurrency counts on it
START_TIMEOUT_S = 60.0  # granian and Celery import Django: slow on a busy CI machine
LOG_TAIL_CHARS = 6000

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll `predicate` until it returns something truthy (which is returned); fail
    naming `what` after `timeout` seconds."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        pause.wait(interval)


def services_missing(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why the multi-process tests cannot run here, or None when they can."""
    if not environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL does not point at PostgreSQL"
    if not environ.get("REDIS_URL", "").startswith("redis://"):
        return "REDIS_URL is not set to a redis:// URL"
    return None


def shared_redis_url(redis_url: str) -> str:
    """The same Redis server, database REDIS_DB."""
    parts = urlsplit(redis_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A DATABASE_URL for the database Django is connected to (the test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(str(settings_dict.get("PASSWORD") or ""), safe="")
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = settings_dict.get("HOST") or ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """One started process and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""  # web servers only

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-LOG_TAIL_CHARS:]

    def check_running(self) -> None:
        if not self.alive():
            raise AssertionError(
                f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
            )

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=grace)


def start(name: str, args: list[str], env: Mapping[str, str], logs: Path) -> Process:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends its children too
        )
    return Process(name, popen, log)


def start_web(name: str, env: Mapping[str, str], logs: Path, *, threads: int) -> Process:
    """granian, one worker process with `threads` threads, as in production
    (docker-compose's web service)."""
    port = free_port()
    process = start(
        name,
        [
            str(Path(sys.executable).with_name("granian")),
            "--interface",
            "wsgi",
            "controlplane.wsgi:application",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--blocking-threads",
            str(threads),
            "--no-ws",
        ],
        env,
        logs,
    )
    process.url = f"http://{HOST}:{port}"

    def healthy() -> bool:
        process.check_running()
        try:
            return httpx.get(f"{process.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    _ready_or_stopped(process, healthy, "to answer /healthz", interval=0.1)
    return process


def start_worker(name: str, node: str, env: Mapping[str, str], logs: Path, ping: Any) -> Process:
    """A Celery worker (the docker-compose worker's command), ready once it answers a
    ping through the broker. `ping(node)` returns its replies."""
    process = start(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "controlplane",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--hostname",
            node,
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        logs,
    )

    def answers() -> bool:
        process.check_running()
        return bool(ping(node))

    _ready_or_stopped(process, answers, "to answer a ping", interval=0.2)
    return process


def _ready_or_stopped(
    process: Process, ready: Callable[[], bool], what: str, *, interval: float
) -> None:
    """Wait for `ready`; a process that never gets there is stopped, not left behind."""
    try:
        wait_until(ready, timeout=START_TIMEOUT_S, what=f"{process.name} {what}", interval=interval)
    except AssertionError as exc:
        process.stop()
        raise AssertionError(f"{exc}\n{process.log_tail()}") from exc


@dataclass
class Stack:
    """Two web processes (A and B), a Celery worker, and what they share."""

    a: Process
    b: Process
    worker: Process
    redis_url: str
    worker_node: str
    processes: list[Process] = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} ({p.log}) -----\n{p.log_tail()}" for p in self.processes)

    def check_running(self) -> None:
        for process in self.processes:
            process.check_running()
