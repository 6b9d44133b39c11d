"""Seed 004's command line as management commands: route, config, reset, create_api_key
(status is tested with its own command). Output through call_command; exit statuses
through a real `manage.py` process on a copy of the test database."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from rest_framework.test import APIClient

from routing.config_io import import_config
from routing.management.commands.create_api_key import (
    MSG_DUPLICATE,
    MSG_UNKNOWN_AGENT,
    MSG_UNKNOWN_SCOPE,
)
from routing.management.commands.route import MSG_BAD_COMPLEXITY
from routing.models import ApiKey, ChangeLogEntry, Decision, SessionUsage
from routing.services import api_key_create

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PII_PROMPT = "Email jane@example.com the architecture review"


@pytest.fixture
def example() -> None:
    import_config(ROOT / "config")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# -- route -------------------------------------------------------------------------------------


def test_route_prints_the_chain_the_reasons_the_eliminated_models_and_the_warning_level(
    example: None,
) -> None:
    output = run("route", "--agent", "cto_agent", "--prompt", PII_PROMPT)

    lines = output.splitlines()
    assert "Routing decision (dry run):" in lines
    assert "Model:          llama-3-70b" in lines
    assert "Chain:          llama-3-70b" in lines
    assert "Reason:         llama-3-70b: preferred by agent (strategy balanced)" in lines
    assert "Rule:           privacy_enforcement" in lines
    assert "PII:            email" in lines
    assert "Warning level:  normal" in lines
    assert "Eliminated:" in lines
    assert any(
        line.split() == ["claude-3-opus", "[privacy]", "local", "only:", "PII", "found", "(email)"]
        for line in lines
    )
    row = Decision.objects.get()
    assert row.outcome == "dry_run"
    assert lines[-1] == f"Decision id:    {row.public_id}"


def test_route_takes_the_task_fields_and_the_sessions_token_usage(example: None) -> None:
    SessionUsage.objects.create(session_id="s-1", tokens=160_000)

    output = run(
        "route",
        "--task-type",
        "code_generation",
        "--complexity",
        "2",
        "--classification",
        "routine",
        "--privacy-level",
        "medium",
        "--session",
        "s-1",
        "--prompt",
        "write a function",
    )

    assert (
        "Task:           type code_generation, complexity simple (2/10), "
        "classification routine, privacy medium"
    ) in output
    assert "Session tokens: 160,000" in output
    assert "Warning level:  warning" in output
    assert "Local only:     yes" in output


def test_route_prints_json_when_asked(example: None) -> None:
    data = json.loads(run("route", "--agent", "cto_agent", "--prompt", PII_PROMPT, "--json"))

    assert data["dry_run"] is True
    assert data["decision"]["chain"] == ["llama-3-70b"]
    assert data["decision"]["privacy"] == {"pii_types": ["email"], "local_only": True}
    assert data["candidates"][0]["factors"]["privacy_requirements"] == 1.0
    assert {"model", "step", "reason", "values"} <= set(data["eliminated"][0])
    assert data["decision_id"] == str(Decision.objects.get().public_id)


def test_route_fails_when_the_request_would_be_refused(example: None) -> None:
    out = StringIO()
    with pytest.raises(CommandError, match=r"^Refused \(unknown_agent\): unknown agent 'nobody'$"):
        call_command("route", "--agent", "nobody", stdout=out)

    assert "Model:          none: refused" in out.getvalue()
    assert Decision.objects.get().outcome == "refused"


def test_route_refuses_a_complexity_out_of_range() -> None:
    with pytest.raises(CommandError, match=MSG_BAD_COMPLEXITY):
        call_command("route", "--complexity", "11", stdout=StringIO())


# -- config ------------------------------------------------------------------------------------


def test_config_shows_strategies_models_agents_budgets_and_session_thresholds(
    example: None,
) -> None:
    lines = run("config").splitlines()

    assert "Strategies (default: balanced):" in lines
    assert lines[lines.index("Strategies (default: balanced):") + 1].startswith(
        "* balanced"
    )  # sorted, the default marked
    claude = next(line for line in lines if line.strip().startswith("claude-3-opus "))
    assert claude.split() == [
        "claude-3-opus",
        "anthropic",
        "cloud",
        "premium",
        "$0.015",
        "$0.075",
        "200000",
        "yes",
    ]
    assert (
        "  cto_agent: primary claude-3-opus, fallback gpt-4-turbo, local alternative "
        "llama-3-70b; 3 rules; privacy low; needs architecture_design, complex_reasoning, "
        "code_generation"
    ) in lines
    assert "  1. rate_limit_protection: model.rate_limit_approaching -> switch_to_fallback" in lines
    assert "  global day: limit $10.00, warn at 80%" in lines
    assert "  provider:anthropic day: limit $5.00, warn at 80%; at most $0.50 a request" in lines
    assert "Session tokens: warning at 150,000, switch to local at 180,000" in lines
    assert "Force-local: off" in lines
    assert "Overrides in force: none" in lines
    assert "Fallback chain: simulated -> groq -> anthropic -> openai" in lines


def test_config_prints_json_when_asked(example: None) -> None:
    data = json.loads(run("config", "--json"))

    assert data["default_strategy"] == "balanced"
    assert {s["key"] for s in data["strategies"]} >= {"balanced", "privacy_first"}
    privacy_first = next(s for s in data["strategies"] if s["key"] == "privacy_first")
    assert privacy_first["settings"] == {"required_model_type": "local"}
    llama = next(m for m in data["models"] if m["key"] == "llama-3-70b")
    assert (llama["type"], llama["cost_input_per_1k"]) == ("local", 0.0)
    assert next(a for a in data["agents"] if a["key"] == "qa_agent")["rules"] == 2
    assert data["session_budget"] == {"warning_tokens": 150_000, "switch_tokens": 180_000}


# -- reset ------------------------------------------------------------------------------------


def test_reset_starts_a_new_session_with_no_tokens_used() -> None:
    first = run("reset").splitlines()[0]
    second = run("reset").splitlines()[0]

    assert first.startswith("Session reset. New session ID: session-")
    new_id = first.rsplit(" ", 1)[1]
    assert SessionUsage.objects.get(session_id=new_id).tokens == 0
    assert second != first
    assert json.loads(run("reset", "--json"))["tokens"] == 0


# -- create_api_key ----------------------------------------------------------------------------


def test_create_api_key_prints_a_working_key_on_its_last_line(example: None) -> None:
    output = run("create_api_key", "--name", "ci", "--agent", "qa_agent", "--scopes", "route")

    secret = output.splitlines()[-1]
    key = ApiKey.objects.get(name="ci")
    assert (key.scopes, key.default_agent.key) == (["route"], "qa_agent")
    assert ChangeLogEntry.objects.get(action="api_key.create").source == "cli"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post(
        "/api/route",
        {"messages": [{"role": "user", "content": "hello"}], "dry_run": True},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert Decision.objects.get().api_key_name == "ci"
    assert Decision.objects.get().agent_key == "qa_agent"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "taken"], MSG_DUPLICATE.format(name="taken")),
        (
            ["--name", "new", "--agent", "nobody"],
            MSG_UNKNOWN_AGENT.format(agent="nobody", known="none"),
        ),
        (
            ["--name", "new", "--scopes", "route,admin"],
            MSG_UNKNOWN_SCOPE.format(unknown="admin", known="route, status"),
        ),
    ],
)
def test_create_api_key_fails_clearly_and_writes_nothing(args: list[str], message: str) -> None:
    api_key_create(name="taken")

    with pytest.raises(CommandError) as raised:
        call_command("create_api_key", *args, stdout=StringIO())

    assert str(raised.value) == message
    assert list(ApiKey.objects.values_list("name", flat=True)) == ["taken"]


# -- exit statuses, from a real process -----------------------------------------------------------


@pytest.fixture
def shared_database(transactional_db: None, tmp_path: Path) -> Callable[[], str]:
    """Returns a function giving a DATABASE_URL that a child process can open, holding
    the data this test has committed so far (SQLite: a file copy of the in-memory
    test database; PostgreSQL: the test database itself)."""

    def url() -> str:
        settings = connection.settings_dict
        if connection.vendor == "postgresql":
            return (
                f"postgres://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST']}:"
                f"{settings['PORT'] or 5432}/{settings['NAME']}"
            )
        if connection.vendor != "sqlite":
            pytest.skip(f"no child-process database for {connection.vendor}")
        target = tmp_path / "copy.sqlite3"
        target.unlink(missing_ok=True)
        connection.ensure_connection()
        with sqlite3.connect(target) as copy:
            connection.connection.backup(copy)
        return f"sqlite:///{target}"

    return url


def manage(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored_secret_hash(database_url: str, name: str) -> str:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            row = db.execute("SELECT secret_hash FROM routing_apikey WHERE name = ?", [name])
            return row.fetchone()[0]
    return ApiKey.objects.get(name=name).secret_hash


def test_commands_exit_0_on_success_and_1_with_the_message_on_stderr(
    shared_database: Callable[[], str],
) -> None:
    api_key_create(name="taken")
    url = shared_database()

    created = manage(url, "create_api_key", "--name", "fresh")
    duplicate = manage(url, "create_api_key", "--name", "taken")
    refused = manage(url, "route", "--agent", "nobody")

    assert created.returncode == 0, created.stderr
    secret = created.stdout.splitlines()[-1]
    assert stored_secret_hash(url, "fresh") == hashlib.sha256(secret.encode()).hexdigest()
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == f"CommandError: {MSG_DUPLICATE.format(name='taken')}"
    assert duplicate.stdout == ""
    assert refused.returncode == 1
    assert "CommandError: Refused (unknown_agent): unknown agent 'nobody'" in refused.stderr


def test_a_bad_option_exits_2_like_any_command_line_tool(
    shared_database: Callable[[], str],
) -> None:
    result = manage(shared_database(), "route", "--classification", "urgent")

    assert result.returncode == 2
    assert "invalid choice: 'urgent'" in result.stderr
