"""Fixtures of the multi-process tests: two granian web processes and a Celery worker,
started once for the module, on the test database pytest-django created (PostgreSQL)
and a Redis database of their own, with the fake upstream on 127.0.0.1.

They need PostgreSQL and Redis (CI sets DATABASE_URL and REDIS_URL). Without them these
tests are deselected at collection, and the run says so and why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from tests.fake_upstream import FakeUpstream
from tests.integration.processes import (
    HOST,
    WEB_THREADS,
    Process,
    Stack,
    database_url,
    services_missing,
    shared_redis_url,
    start_web,
    start_worker,
    wait_until,
)
from tests.upstream_registry import CLOUD_KEY, CLOUD_KEY_ENV

HERE = Path(__file__).resolve().parent
WORKER_NODE = "switchboard-integration@127.0.0.1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = services_missing()
    mine = [item for item in items if HERE in item.path.parents]
    if reason is None or not mine:
        return
    items[:] = [item for item in items if HERE not in item.path.parents]
    config.hook.pytest_deselected(items=mine)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"tests/integration: {len(mine)} multi-process tests deselected: {reason} "
            "(they need PostgreSQL and Redis: set DATABASE_URL and REDIS_URL, as CI does)"
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test shows what the processes logged."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(stack, Stack):
        report.sections.append(("Switchboard processes", stack.logs()))
    return report


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


def _process_env(settings_dict: dict[str, Any], redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "DJANGO_"))}
    env.update(
        DATABASE_URL=database_url(settings_dict),
        REDIS_URL=redis_url,
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        ALLOWED_HOSTS=HOST,
        # Plain http on 127.0.0.1: the session and CSRF cookies must travel without TLS.
        SESSION_COOKIE_SECURE="false",
        LOG_FORMAT="plain",
        DJANGO_SETTINGS_MODULE="controlplane.settings",
        PYTHONUNBUFFERED="1",
    )
    env[CLOUD_KEY_ENV] = CLOUD_KEY
    return env


@pytest.fixture(scope="module")
def stack(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Web processes A and B and a Celery worker, on the test database (the one
    pytest-django created, so the data a transactional test commits is theirs too)."""
    from django.db import connection

    redis_url = shared_redis_url(os.environ["REDIS_URL"])
    redis.Redis.from_url(redis_url).flushdb()
    env = _process_env(dict(connection.settings_dict), redis_url)
    logs = tmp_path_factory.mktemp("switchboard-processes")
    broker = Celery("integration-tests", broker=redis_url, set_as_current=False)

    def ping(node: str) -> list[Any]:
        return broker.control.ping(destination=[node], timeout=0.5)

    started: list[Process] = []
    try:
        started.append(start_web("web-a", env, logs, threads=WEB_THREADS))
        started.append(start_web("web-b", env, logs, threads=WEB_THREADS))
        started.append(start_worker("worker", WORKER_NODE, env, logs, ping))
        a, b, worker = started
        yield Stack(a, b, worker, redis_url, WORKER_NODE, processes=started)
    except AssertionError as exc:
        logs_text = "\n".join(f"----- {p.name} -----\n{p.log_tail()}" for p in started)
        raise AssertionError(f"{exc}\n{logs_text}") from exc
    finally:
        for process in reversed(started):
            process.stop()
        broker.close()
        redis.Redis.from_url(redis_url).flushdb()
        with django_db_blocker.unblock():
            # pytest-django drops the test database at the end of the session; a backend
            # of a stopped process may take a moment to go away.
            wait_until(
                lambda: not _other_backends(connection),
                timeout=10,
                what="the processes' database connections to close",
            )


def _other_backends(connection: Any) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]
