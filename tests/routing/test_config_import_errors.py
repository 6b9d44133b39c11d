"""What a configuration import refuses, and how it says so: every problem, in every
file, named by file, key path and problem, with nothing written.

Every test starts from the example configuration already imported, so "nothing was
written" is checked against a database that has something to lose. Helpers come from
test_config_io.py.

"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from routing.config_io import ConfigImportError, ConfigIssue, import_config
from routing.models import LLMModel
from tests.routing.test_config_io import (
    EXAMPLE,
    MANAGE_PY,
    database_state,
    write_config,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def example(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Every test here starts from the example configuration, imported once for the
    module in a transaction that is never committed. Each test's own transaction is a
    savepoint inside it (as with Django's setUpTestData), so each starts from the same
    state; after the last test all of it is rolled back. One import per test would cost
    most of this module's run time."""
    with django_db_blocker.unblock(), transaction.atomic():
        import_config(EXAMPLE)
        yield
        transaction.set_rollback(True)


def _refused(directory: Path, environment: str | None = None) -> ConfigImportError:
    with pytest.raises(ConfigImportError) as excinfo:
        import_config(directory, environment=environment)
    return excinfo.value


@dataclass(frozen=True)
class Bad:
    """A directory to import (None: it does not exist) and the one issue expected.
    In `file`, "{dir}" stands for the directory itself."""

    files: dict[str, str] | None
    file: str
    path: str
    message: str
    environment: str | None = None


AN_AGENT = """\
    agents:
      reviewer:
        name: Reviewer
        model_preferences:
          primary: {primary}
        routing_rules:
          - condition: "task.complexity > 8"
            model: claude-3-opus
          - condition: "{condition}"
            model: {model}
    """


def _agent(
    primary: str = "gpt-4o", condition: str = "task.critical", model: str = "gpt-4o"
) -> dict[str, str]:
    return {"agents.yaml": AN_AGENT.format(primary=primary, condition=condition, model=model)}


def _model(**fields: str) -> dict[str, str]:
    """models.yaml with one model, `cheap`, a cloud model of openai unless told otherwise."""
    spec = {"provider": "openai", "type": "cloud", **fields}
    lines = "".join(f"    {key}: {value}\n" for key, value in spec.items())
    return {"models.yaml": f"models:\n  cheap:\n{lines}"}


BAD_CONFIGURATIONS = [
    pytest.param(
        Bad(
            _agent(primary="gpt-5"),
            "agents.yaml",
            "agents.reviewer.model_preferences.primary",
            "unknown model 'gpt-5': define it in models.yaml",
        ),
        id="an unknown model as an agent's preference",
    ),
    pytest.param(
        Bad(
            _agent(model="gpt-5"),
            "agents.yaml",
            "agents.reviewer.routing_rules[1].model",
            "unknown model 'gpt-5'",
        ),
        id="an unknown model in an agent rule",
    ),
    pytest.param(
        Bad(
            _agent(condition="task.type = 'code_review'"),
            "agents.yaml",
            "agents.reviewer.routing_rules[1].condition",
            "condition does not parse: line 1, column 11: invalid syntax: use '==' to compare values",
        ),
        id="a condition that does not parse",
    ),
    pytest.param(
        Bad(
            _agent(condition="task.complexty > 3"),
            "agents.yaml",
            "agents.reviewer.routing_rules[1].condition",
            "unknown name 'task.complexty'; did you mean 'task.complexity'",
        ),
        id="a condition with an unknown name",
    ),
    pytest.param(
        Bad(
            {
                "agents.yaml": "agents:\n  reviewer:\n    name: Reviewer\n    routing_rules:\n      - condition: task.critical\n"
            },
            "agents.yaml",
            "agents.reviewer.routing_rules[0]",
            "a rule that uses a model must name it in 'model'",
        ),
        id="an agent rule that names no model",
    ),
    pytest.param(
        Bad(
            {
                "models.yaml": "models:\n  cheap:\n    provider: openai\n    type: cloud\n    cost_per_1k_tokens:\n      input: -1\n"
            },
            "models.yaml",
            "models.cheap.cost_per_1k_tokens.input",
            "-1 is less than the minimum of 0",
        ),
        id="a negative cost",
    ),
    pytest.param(
        Bad(
            _model(context_window="big"),
            "models.yaml",
            "models.cheap.context_window",
            "'big' is not of type 'integer'",
        ),
        id="a word where a number belongs",
    ),
    pytest.param(
        Bad(
            _model(cost_per_1k_token="{input: 1}"),
            "models.yaml",
            "models.cheap",
            "Additional properties are not allowed ('cost_per_1k_token' was unexpected)",
        ),
        id="a misspelt key",
    ),
    pytest.param(
        Bad(
            _model(type="local"),
            "models.yaml",
            "models.cheap.type",
            "a local model cannot run on provider 'openai', which is not in the local tier",
        ),
        id="a local model on a cloud provider",
    ),
    pytest.param(
        Bad(
            _model(provider="acme"),
            "models.yaml",
            "models.cheap.provider",
            "unknown provider 'acme': define it under providers in llm_routing.yaml",
        ),
        id="an unknown provider",
    ),
    pytest.param(
        Bad({"models.yaml": "# to do\n"}, "models.yaml", "", "is empty"),
        id="an empty file",
    ),
    pytest.param(
        Bad(
            {"models.yaml": "models:\n  cheap:\n    provider: openai\n   type: cloud\n"},
            "models.yaml",
            "line 4, column 4",
            "is not valid YAML: expected <block end>, but found '<block mapping start>'",
        ),
        id="invalid YAML",
    ),
    pytest.param(
        Bad(
            {"routing.yaml": "routing:\n  default_strategy: fastest\n"},
            "routing.yaml",
            "routing.default_strategy",
            "unknown strategy 'fastest' (known: balanced, cost_optimized, performance_optimized, privacy_first)",
        ),
        id="an unknown default strategy",
    ),
    pytest.param(
        Bad(
            {
                "environments/staging.yaml": "routing:\n  global_overrides:\n    default_strategy: fastest\n"
            },
            "environments/staging.yaml",
            "routing.global_overrides.default_strategy",
            "unknown strategy 'fastest'",
        ),
        id="an unknown strategy as an environment's default",
    ),
    pytest.param(
        Bad(
            {
                "routing.yaml": "routing:\n  global_rules:\n    - name: pii\n      condition: data.contains_pii\n      action: explode\n"
            },
            "routing.yaml",
            "routing.global_rules[0].action",
            "unknown action 'explode' (known: use_model, force_local_model",
        ),
        id="an unknown rule action",
    ),
    pytest.param(
        Bad(
            {
                "routing.yaml": "routing:\n  global_rules:\n    - name: pii\n      condition: data.contains_pii\n      action: force_local\n    - name: pii\n      condition: task.critical\n      action: deny\n"
            },
            "routing.yaml",
            "routing.global_rules[1].name",
            "rule name 'pii' is used twice",
        ),
        id="a global rule name used twice",
    ),
    pytest.param(
        Bad(
            {
                "routing.yaml": "routing:\n  strategies:\n    frugal:\n      rules:\n        - prefer_local_models: true\n        - prefer_fast_models: true\n"
            },
            "routing.yaml",
            "routing.strategies.frugal.rules[1]",
            "Additional properties are not allowed ('prefer_fast_models' was unexpected)",
        ),
        id="an unknown strategy rule",
    ),
    pytest.param(
        Bad(
            {
                "llm_routing.yaml": 'providers:\n  premium:\n    openai:\n      api_key: "sk-live-4f9a8b7c6d5e"\n'
            },
            "llm_routing.yaml",
            "providers.premium.openai.api_key",
            'must name an environment variable as "${NAME}"; a secret never goes in a file',
        ),
        id="a literal secret",
    ),
    pytest.param(
        Bad(
            {
                "llm_routing.yaml": "providers:\n  fast_cloud:\n    groq: {}\n  premium:\n    groq: {}\n"
            },
            "llm_routing.yaml",
            "providers.premium.groq",
            "provider 'groq' is defined under two tiers",
        ),
        id="a provider under two tiers",
    ),
    pytest.param(
        Bad(
            {
                "llm_routing.yaml": 'routing_rules:\n  reasoning:\n    simple: ["groq", "ollama:nope"]\n'
            },
            "llm_routing.yaml",
            "routing_rules.reasoning.simple[1]",
            "unknown model 'nope' of provider 'ollama'",
        ),
        id="a task route to an unknown model",
    ),
    pytest.param(
        Bad(
            {"llm_routing.yaml": "fallback_chain: [groq, acme]\n"},
            "llm_routing.yaml",
            "fallback_chain[1]",
            "unknown provider 'acme'",
        ),
        id="an unknown provider in the fallback chain",
    ),
    pytest.param(
        Bad(
            {
                "llm_routing.yaml": "cost_limits:\n  agent_limits:\n    ghost_agent:\n      daily: 1\n"
            },
            "llm_routing.yaml",
            "cost_limits.agent_limits.ghost_agent",
            "unknown agent 'ghost_agent'",
        ),
        id="a budget for an unknown agent",
    ),
    pytest.param(
        Bad(
            {
                "llm_routing.yaml": "cost_limits:\n  session_tokens:\n    warning: 180000\n    switch_to_local: 180000\n"
            },
            "llm_routing.yaml",
            "cost_limits.session_tokens",
            "warning must be below switch_to_local",
        ),
        id="a session token warning not below the switch",
    ),
    pytest.param(
        Bad(
            {
                "environments/development.yaml": "routing:\n  global_overrides:\n    force_local_models: true\n"
            },
            "environments/staging.yaml",
            "",
            "SWITCHBOARD_ENVIRONMENT names environment 'staging', but there is no such file",
            environment="staging",
        ),
        id="SWITCHBOARD_ENVIRONMENT naming a missing environment",
    ),
    pytest.param(
        Bad(None, "{dir}", "", "is not a directory"),
        id="a directory that does not exist",
    ),
    pytest.param(
        Bad(
            {},
            "{dir}",
            "",
            "holds none of models.yaml, agents.yaml, routing.yaml, llm_routing.yaml, environments/*.yaml",
        ),
        id="an empty directory",
    ),
]


@pytest.mark.parametrize("bad", BAD_CONFIGURATIONS)
def test_a_bad_configuration_is_reported_by_file_key_path_and_problem_and_nothing_is_written(
    tmp_path: Path, bad: Bad
) -> None:
    directory = tmp_path / "config"
    if bad.files is not None:
        write_config(directory, bad.files)
    before = database_state()

    error = _refused(directory, bad.environment)

    assert [(issue.file, issue.path) for issue in error.issues] == [
        (bad.file.format(dir=directory), bad.path)
    ]
    assert bad.message in error.issues[0].message
    assert database_state() == before


@pytest.mark.parametrize(
    "secret",
    [
        '"sk-live-4f9a8b7c6d5e"',
        "sk-ant-api03-Zx9",
        '"${sk-live-4f9a8b7c6d5e}"',
        "7351902846113",
    ],
)
def test_a_literal_secret_is_refused_without_being_repeated(tmp_path: Path, secret: str) -> None:
    write_config(
        tmp_path / "config",
        {"llm_routing.yaml": f"providers:\n  premium:\n    openai:\n      api_key: {secret}\n"},
    )

    error = _refused(tmp_path / "config")

    assert [(i.file, i.path) for i in error.issues] == [
        ("llm_routing.yaml", "providers.premium.openai.api_key")
    ]
    assert "must name an environment variable" in error.issues[0].message
    assert secret.strip('"${}') not in str(error)


def test_a_valid_file_beside_an_invalid_one_is_not_imported_either(tmp_path: Path) -> None:
    directory = write_config(
        tmp_path / "config",
        {
            "models.yaml": """\
                models:
                  claude-3-opus:
                    provider: anthropic
                    type: cloud
                    model_id: claude-3-opus-20240229
                    cost_per_1k_tokens: {input: 0.02, output: 0.075}
                  fresh-model:
                    provider: openai
                    type: cloud
                """,
            **_agent(primary="gpt-5"),
        },
    )
    before = database_state()

    _refused(directory)

    assert database_state() == before
    assert not LLMModel.objects.filter(key="fresh-model").exists()


# Several problems at once


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    directory = write_config(
        tmp_path / "config",
        {
            "models.yaml": """\
                models:
                  cheap: {provider: acme, type: cloud}
                  box: {provider: openai, type: local}
                """,
            **_agent(primary="gpt-5", condition="task.type = 'code_review'"),
            "routing.yaml": """\
                routing:
                  default_strategy: fastest
                  global_rules:
                    - {name: pii, condition: data.contains_pii, action: explode}
                """,
            "llm_routing.yaml": """\
                cost_limits:
                  session_tokens: {warning: 200000, switch_to_local: 180000}
                fallback_chain: [groq, acme]
                """,
            "environments/staging.yaml": """\
                routing:
                  global_overrides: {default_strategy: fastest}
                """,
        },
    )

    error = _refused(directory)

    assert sorted((i.file, i.path) for i in error.issues) == [
        ("agents.yaml", "agents.reviewer.model_preferences.primary"),
        ("agents.yaml", "agents.reviewer.routing_rules[1].condition"),
        ("environments/staging.yaml", "routing.global_overrides.default_strategy"),
        ("llm_routing.yaml", "cost_limits.session_tokens"),
        ("llm_routing.yaml", "fallback_chain[1]"),
        ("models.yaml", "models.box.type"),
        ("models.yaml", "models.cheap.provider"),
        ("routing.yaml", "routing.default_strategy"),
        ("routing.yaml", "routing.global_rules[0].action"),
    ]


def test_structural_problems_in_several_files_are_reported_together(tmp_path: Path) -> None:
    directory = write_config(
        tmp_path / "config",
        {
            "models.yaml": "models:\n  cheap: [\n",
            "agents.yaml": """\
                agents:
                  reviewer: {description: no name}
                  writer: {description: no name either}
                """,
            "routing.yaml": """\
                routing:
                  routing_factors:
                    - {name: task_complexity, weight: -1}
                """,
            "llm_routing.yaml": "fallback_chain: groq\n",
            "environments/staging.yaml": """\
                routing:
                  global_overrides: {force_cloud_models: true}
                """,
        },
    )

    error = _refused(directory)

    assert sorted((i.file, i.path, i.message) for i in error.issues) == [
        ("agents.yaml", "agents.reviewer", "'name' is a required property"),
        ("agents.yaml", "agents.writer", "'name' is a required property"),
        (
            "environments/staging.yaml",
            "routing.global_overrides",
            "Additional properties are not allowed ('force_cloud_models' was unexpected)",
        ),
        ("llm_routing.yaml", "fallback_chain", "'groq' is not of type 'array'"),
        (
            "models.yaml",
            "line 3, column 1",
            "is not valid YAML: expected the node content, but found '<stream end>'",
        ),
        ("routing.yaml", "routing.routing_factors[0].weight", "-1 is less than the minimum of 0"),
    ]


# Problems only the database finds, while writing

LONG_KEY = "agent_" + "x" * 60  # the schema allows 128 characters, the column 64


def test_an_error_found_only_while_writing_rolls_back_everything_written_before_it(
    tmp_path: Path,
) -> None:
    directory = write_config(
        tmp_path / "config",
        {
            # Written first: a changed price and a new model...
            "models.yaml": """\
                models:
                  claude-3-opus:
                    provider: anthropic
                    type: cloud
                    model_id: claude-3-opus-20240229
                    cost_per_1k_tokens: {input: 0.02, output: 0.075}
                  fresh-model:
                    provider: openai
                    type: cloud
                """,
            # ...then an agent whose key only the database refuses.
            "agents.yaml": f"agents:\n  {LONG_KEY}:\n    name: Long\n",
        },
    )
    before = database_state()

    error = _refused(directory)

    assert any(LONG_KEY in str(issue) for issue in error.issues)
    assert database_state() == before
    assert not LLMModel.objects.filter(key="fresh-model").exists()


def _locates(issue: ConfigIssue, file: str, path: str) -> bool:
    """The issue names `file` and `path`, or the mapping holding the key at the end of
    `path` and that key in its message (which is how a schema reports a bad key)."""
    parent, _, key = path.rpartition(".")
    return issue.file == file and (
        issue.path == path or (issue.path == parent and key in issue.message)
    )


@pytest.mark.parametrize(
    ("files", "file", "path"),
    [
        pytest.param(
            {"agents.yaml": f"agents:\n  {LONG_KEY}:\n    name: Long\n"},
            "agents.yaml",
            f"agents.{LONG_KEY}",
            id="an agent key longer than its column",
        ),
        pytest.param(
            {
                "routing.yaml": f"routing:\n  strategies:\n    {LONG_KEY}:\n      description: Long\n"
            },
            "routing.yaml",
            f"routing.strategies.{LONG_KEY}",
            id="a strategy key longer than its column",
        ),
        pytest.param(
            {"llm_routing.yaml": f"routing_rules:\n  {LONG_KEY}:\n    all: [groq]\n"},
            "llm_routing.yaml",
            f"routing_rules.{LONG_KEY}",
            id="a task type longer than its column",
        ),
        pytest.param(
            _model(cost_per_1k_tokens="{input: 0.000000015}"),
            "models.yaml",
            "models.cheap.cost_per_1k_tokens.input",
            id="a price with more decimal places than its column",
        ),
        pytest.param(
            _model(model_id="claude-3-opus-20240229", provider="anthropic"),
            "models.yaml",
            "models.cheap.model_id",
            id="a second key for a model already in the database",
        ),
    ],
)
def test_an_error_found_only_while_writing_names_its_file_and_key_path(
    tmp_path: Path, files: dict[str, str], file: str, path: str
) -> None:
    before = database_state()

    error = _refused(write_config(tmp_path / "config", files))

    assert len(error.issues) == 1
    assert _locates(error.issues[0], file, path), error.issues[0]
    assert database_state() == before


def test_a_row_that_depends_on_one_the_database_refused_does_not_crash_the_import(
    tmp_path: Path,
) -> None:
    directory = write_config(
        tmp_path / "config",
        {
            "agents.yaml": f"agents:\n  {LONG_KEY}:\n    name: Long\n",
            "llm_routing.yaml": f"cost_limits:\n  agent_limits:\n    {LONG_KEY}:\n      daily: 1\n",
        },
    )
    before = database_state()

    error = _refused(directory)

    assert any(LONG_KEY in str(issue) for issue in error.issues)
    assert database_state() == before


def test_an_empty_environment_file_is_reported(tmp_path: Path) -> None:
    directory = write_config(
        tmp_path / "config",
        {
            "environments/qa.yaml": "routing:\n  global_overrides:\n    verbose_routing_logs: true\n",
            "environments/staging.yaml": "# to do\n",
        },
    )
    before = database_state()

    error = _refused(directory, "staging")

    assert [(i.file, i.path, i.message) for i in error.issues] == [
        ("environments/staging.yaml", "", "is empty")
    ]
    assert database_state() == before


# The management commands


def test_the_import_command_lists_each_problem_and_says_nothing_was_imported(
    tmp_path: Path,
) -> None:
    bad = write_config(
        tmp_path / "bad",
        {
            "agents.yaml": """\
                agents:
                  reviewer:
                    name: Reviewer
                    model_preferences:
                      primary: gpt-5
                """,
            "routing.yaml": """\
                routing:
                  default_strategy: fastest
                """,
        },
    )
    before = database_state()

    with pytest.raises(CommandError) as excinfo:
        call_command("import_routing_config", str(bad))

    message = str(excinfo.value)
    assert message.startswith(f"Nothing was imported: 2 problem(s) in {bad}:")
    assert (
        "agents.yaml: agents.reviewer.model_preferences.primary: unknown model 'gpt-5'" in message
    )
    assert "routing.yaml: routing.default_strategy: unknown strategy 'fastest'" in message
    assert database_state() == before


def test_the_import_command_refuses_a_switchboard_environment_without_a_file(settings: Any) -> None:
    settings.SWITCHBOARD_ENVIRONMENT = "staging"
    before = database_state()

    with pytest.raises(CommandError, match="SWITCHBOARD_ENVIRONMENT names environment 'staging'"):
        call_command("import_routing_config", str(EXAMPLE))

    assert database_state() == before


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for manage.py in a subprocess, with its own migrated SQLite file."""
    database = tmp_path_factory.mktemp("cli") / "switchboard.sqlite3"
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{database}"}
    env.pop("SWITCHBOARD_ENVIRONMENT", None)
    migrate = _manage(env, "migrate", "--verbosity", "0")
    assert migrate.returncode == 0, migrate.stderr
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_command_exits_non_zero_with_the_problems_on_stderr_and_no_traceback(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    bad = write_config(
        tmp_path / "bad",
        {
            "models.yaml": """\
                models:
                  cheap:
                    provider: acme
                    type: cloud
                """
        },
    )

    process = _manage(cli_env, "import_routing_config", str(bad))

    assert process.returncode == 1
    assert "Nothing was imported: 1 problem(s)" in process.stderr
    assert "models.yaml: models.cheap.provider: unknown provider 'acme'" in process.stderr
    assert "Traceback" not in process.stderr
    assert process.stdout == ""


def test_the_export_command_into_a_file_exits_non_zero_with_a_clear_message(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "routing-config"
    target.write_text("not a directory\n", encoding="utf-8")

    process = _manage(cli_env, "export_routing_config", str(target))

    assert process.returncode == 1
    assert f"Cannot write to {target}: File exists" in process.stderr
    assert "Traceback" not in process.stderr
    assert target.read_text(encoding="utf-8") == "not a directory\n"


def test_an_endpoint_on_a_compose_service_name_with_an_underscore_is_accepted(
    tmp_path: Path,
) -> None:
    # Django's URLValidator refuses such hosts; Docker Compose networks use them.
    directory = write_config(
        tmp_path / "config",
        {
            "models.yaml": "models:\n  box:\n    provider: local\n    type: local\n    endpoint: http://ollama_host:11434\n"
        },
    )

    import_config(directory)

    assert LLMModel.objects.get(key="box").endpoint == "http://ollama_host:11434"
