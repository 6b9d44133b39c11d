"""Settings come from environment variables; a bad value stops start-up, naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    }
    base.setdefault("DATABASE_URL", f"sqlite:///{tmp_path / 'settings.sqlite3'}")
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "true", "DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL"),
        ({"DEBUG": "true", "REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"DEBUG": "true", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DEBUG": "false"}, "SECRET_KEY"),
    ],
)
def test_a_malformed_or_missing_value_stops_start_up_naming_the_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    result = run_check(tmp_path, **env)
    assert result.returncode != 0
    assert f'"{variable}"' in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_mode_starts_without_a_secret_key(tmp_path: Path) -> None:
    result = run_check(tmp_path, DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_production_mode_starts_with_a_secret_key(tmp_path: Path) -> None:
    result = run_check(tmp_path, DEBUG="false", SECRET_KEY="x" * 50, ALLOWED_HOSTS="sb.example.com")
    assert result.returncode == 0, result.stderr


def test_the_defaults_are_sqlite_local_memory_and_eager_celery(settings) -> None:
    # The test process may run against PostgreSQL and Redis in CI; read the module's
    # defaults in a clean interpreter instead.
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='controlplane.settings';"
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'],"
        " s.CELERY_TASK_ALWAYS_EAGER, s.TIME_ZONE, s.USE_TZ)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["DEBUG"] = "true"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [
        "django.db.backends.sqlite3",
        "django.core.cache.backends.locmem.LocMemCache",
        "True",
        "UTC",
        "True",
    ]


def test_every_variable_settings_reads_is_listed_in_env_example() -> None:
    import re

    source = (ROOT / "controlplane" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source)) | set(
        re.findall(r'_list\("([A-Z_]+)"', source)
    )
    listed = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert read, "the pattern found no variables: update this test"
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
