"""Static checks of the container setup: Dockerfile, docker-compose.yml, the entrypoint.

No Docker engine runs in CI, so these tests read the files instead: the services are
wired together the way the README promises, and every command, module and path the
containers refer to exists in this repository. Nothing here imports the project or
touches a database. The web entrypoint alone is run, under sh, with a stand-in `python`.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import os
import re
import shlex
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENTRYPOINT = REPO / "docker" / "entrypoint-web.sh"
ENV_EXAMPLE = REPO / ".env.example"

APP_SERVICES = ("web", "worker", "beat")
CORE_SERVICES = ("postgres", "redis", *APP_SERVICES)
OPTIONAL_SERVICES = ("ollama",)


# --- reading the files ------------------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def service(name: str) -> dict:
    return compose()["services"][name]


@cache
def dockerfile_instructions() -> tuple[tuple[str, str], ...]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        if logical:
            keyword, _, rest = logical.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return tuple(instructions)


def dockerfile_arguments(keyword: str) -> list[str]:
    return [rest for kw, rest in dockerfile_instructions() if kw == keyword]


def exec_form_or_words(arguments: str) -> list[str]:
    """A Dockerfile instruction's arguments: JSON exec form, or shell-like words."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


def dockerfile_copy_sources() -> list[str]:
    sources: list[str] = []
    for arguments in dockerfile_arguments("COPY"):
        words = exec_form_or_words(arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue  # copied from another stage or image, not from the repository
        paths = [word for word in words if not word.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def workdir() -> str:
    directories = dockerfile_arguments("WORKDIR")
    assert directories, "the Dockerfile sets no WORKDIR"
    return directories[-1]


SHELLS = ("sh", "bash", "/bin/sh", "/bin/bash")


def command_words(command: str | list[str]) -> list[str]:
    """A command as words. A string is a shell line; in a list, `sh -c SCRIPT` is split too."""
    if isinstance(command, str):
        return shlex.split(command)
    words: list[str] = []
    for index, item in enumerate(command):
        is_shell_script = index >= 2 and command[index - 1] == "-c" and command[0] in SHELLS
        words.extend(shlex.split(item) if is_shell_script else [item])
    return words


def healthcheck_words(name: str) -> list[str]:
    test = service(name)["healthcheck"]["test"]
    if isinstance(test, str) or test[0] == "CMD-SHELL":
        return command_words(test if isinstance(test, str) else " ".join(test[1:]))
    return command_words(test[1:])  # CMD: an exec-form list


def healthcheck_text(name: str) -> str:
    test = service(name)["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test[1:])


def env_files(name: str) -> list[str]:
    value = service(name).get("env_file", [])
    entries = [value] if isinstance(value, str | dict) else value
    return [entry["path"] if isinstance(entry, dict) else entry for entry in entries]


def environment(name: str) -> dict[str, str]:
    value = service(name).get("environment") or {}
    if isinstance(value, list):
        return dict(item.partition("=")[::2] for item in value)
    return {key: "" if val is None else str(val) for key, val in value.items()}


# --- compose-style variable interpolation ------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATOR = re.compile(r":?[-?+]")


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    raise AssertionError(f"unterminated ${{...}} in {text!r}")


def interpolate(text: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """Resolve `text` as Compose does; also return the variables used without a default.

    `$$` is an escaped dollar; `${VAR}`, `$VAR`, `${VAR:?err}` and `${VAR?err}` have no
    default; `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}` and `${VAR+x}` do.
    """
    env = env or {}
    out: list[str] = []
    required: set[str] = set()
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1 : index + 2]
        if char != "$":
            out.append(char)
            index += 1
        elif following == "$":
            out.append("$")
            index += 2
        elif following == "{":
            end = _closing_brace(text, index + 2)
            body = text[index + 2 : end]
            name_match = _NAME.match(body)
            assert name_match, f"bad variable name in ${{{body}}}"
            name = name_match.group()
            rest = body[name_match.end() :]
            operator_match = _OPERATOR.match(rest)
            operator = operator_match.group() if operator_match else ""
            assert operator or not rest, f"bad interpolation ${{{body}}}"
            argument, argument_required = interpolate(rest[len(operator) :], env)
            required |= argument_required
            is_set, value = name in env, env.get(name, "")
            if operator in ("", ":?", "?"):
                required.add(name)
                out.append(value)
            elif operator == ":-":
                out.append(value if value else argument)
            elif operator == "-":
                out.append(value if is_set else argument)
            elif operator == ":+":
                out.append(argument if value else "")
            else:  # "+"
                out.append(argument if is_set else "")
            index = end + 1
        elif name_match := _NAME.match(text, index + 1):
            required.add(name_match.group())
            out.append(env.get(name_match.group(), ""))
            index = name_match.end()
        else:
            out.append(char)
            index += 1
    return "".join(out), required


def strings_in(node: object):
    """Every string value in a loaded YAML document (keys are not interpolated)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def compose_variables_without_default() -> set[str]:
    names: set[str] = set()
    for text in strings_in(compose()):
        names |= interpolate(text)[1]
    return names


# --- what exists in the project ---------------------------------------------------


def module_defines(path: Path, attribute: str) -> bool:
    """Whether a module's source binds `attribute` at top level (without importing it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in ast.walk(target)]
            if any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
                return True
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            if isinstance(node.target, ast.Name) and node.target.id == attribute:
                return True
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == attribute:
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == attribute:
                    return True
    return False


def module_file(dotted: str) -> Path:
    base = REPO.joinpath(*dotted.split("."))
    package_init = base / "__init__.py"
    return package_init if package_init.exists() else base.with_suffix(".py")


def django_builtin_commands() -> set[str]:
    spec = importlib.util.find_spec("django")
    assert spec, "Django is not installed"
    assert spec.submodule_search_locations, "django is not a package"
    django_dir = Path(next(iter(spec.submodule_search_locations)))
    return {
        path.stem
        for path in django_dir.glob("**/management/commands/*.py")
        if not path.stem.startswith("_")
    }


def project_commands() -> set[str]:
    return {
        path.stem
        for path in REPO.glob("*/management/commands/*.py")
        if not path.stem.startswith("_")
    }


def manage_py_subcommands(text: str) -> set[str]:
    return set(re.findall(r"manage\.py\s+([A-Za-z_][\w-]*)", text))


def all_app_command_words() -> list[list[str]]:
    """Every command the app containers run: compose commands, healthchecks, Dockerfile CMD."""
    commands = [command_words(service(name)["command"]) for name in APP_SERVICES]
    commands += [healthcheck_words(name) for name in APP_SERVICES]
    commands += [command_words(exec_form_or_words(cmd)) for cmd in dockerfile_arguments("CMD")]
    return commands


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**` spans directories, `*` and `?` do not."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    translated = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(translated.get(part, re.escape(part)) for part in parts))


def dockerignore_excludes(path: str) -> bool:
    """Approximates Docker's .dockerignore rules: a matched directory takes its contents
    with it, and the last matching rule (`!` re-includes) wins."""
    components = path.strip("/").split("/")
    prefixes = ["/".join(components[: n + 1]) for n in range(len(components))]
    excluded = False
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        regex = _dockerignore_regex(rule.removeprefix("!").strip().strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def env_example_names() -> set[str]:
    names = set()
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", line)
        if match:
            names.add(match.group(1))
    return names


# --- the compose file -------------------------------------------------------------


def test_the_compose_file_uses_the_compose_spec_without_a_version_key():
    assert "version" not in compose()
    assert isinstance(compose().get("services"), dict)


def test_every_service_of_the_stack_is_defined():
    assert set(CORE_SERVICES + OPTIONAL_SERVICES) <= set(compose()["services"])


def test_ollama_is_optional_behind_a_profile_and_nothing_else_is():
    assert "ollama" in service("ollama").get("profiles", [])
    for name in CORE_SERVICES:
        assert not service(name).get("profiles"), f"{name} must start without a profile"


def test_no_always_on_service_depends_on_the_optional_ollama():
    for name in CORE_SERVICES:
        assert "ollama" not in (service(name).get("depends_on") or {}), name


@pytest.mark.parametrize("name", CORE_SERVICES)
def test_each_core_service_has_a_healthcheck(name):
    healthcheck = service(name).get("healthcheck")
    assert healthcheck, f"{name} has no healthcheck"
    assert not healthcheck.get("disable")
    test = healthcheck.get("test")
    assert test, f"{name}'s healthcheck has no test"
    if isinstance(test, list):
        assert test[0] in ("CMD", "CMD-SHELL"), test
        assert len(test) > 1


def test_every_service_restarts_unless_stopped():
    for name in CORE_SERVICES + OPTIONAL_SERVICES:
        assert service(name).get("restart") == "unless-stopped", name


def test_web_worker_and_beat_run_the_same_image_and_read_the_same_env_file():
    builds = {json.dumps(service(name).get("build"), sort_keys=True) for name in APP_SERVICES}
    images = {service(name).get("image") for name in APP_SERVICES}
    assert len(builds) == 1, builds
    assert len(images) == 1, images
    assert service("web").get("build") or service("web").get("image")
    for name in APP_SERVICES:
        assert env_files(name) == [".env"], name


def test_the_app_is_built_from_the_dockerfile_at_the_repository_root():
    build = service("web")["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO / context / dockerfile).resolve() == DOCKERFILE


def test_web_waits_for_healthy_postgres_and_redis():
    depends_on = service("web")["depends_on"]
    for name in ("postgres", "redis"):
        assert depends_on[name]["condition"] == "service_healthy", name


def test_worker_and_beat_wait_for_a_healthy_web_so_migrations_have_run():
    for name in ("worker", "beat"):
        assert service(name)["depends_on"]["web"]["condition"] == "service_healthy", name


def test_database_url_points_at_the_postgres_service():
    for name in APP_SERVICES:
        url = urlsplit(interpolate(environment(name)["DATABASE_URL"])[0])
        assert url.scheme in ("postgres", "postgresql"), url.scheme
        assert url.hostname == "postgres", name
        assert url.path.strip("/"), "DATABASE_URL names no database"


def test_redis_url_points_at_the_redis_service():
    for name in APP_SERVICES:
        url = urlsplit(interpolate(environment(name)["REDIS_URL"])[0])
        assert url.scheme == "redis", url.scheme
        assert url.hostname == "redis", name


def test_the_database_url_uses_the_same_credentials_postgres_is_created_with():
    fake_env = {"POSTGRES_USER": "u1", "POSTGRES_PASSWORD": "p2", "POSTGRES_DB": "d3"}
    url = urlsplit(interpolate(environment("web")["DATABASE_URL"], fake_env)[0])
    postgres_env = {
        key: interpolate(value, fake_env)[0] for key, value in environment("postgres").items()
    }
    assert url.username == postgres_env["POSTGRES_USER"]
    assert url.password == postgres_env["POSTGRES_PASSWORD"]
    assert url.path.strip("/") == postgres_env["POSTGRES_DB"]


def test_the_web_healthcheck_asks_healthz_on_a_host_django_allows():
    test_text = healthcheck_text("web")
    assert "/healthz" in test_text
    assert "curl" not in test_text, "the slim image has no curl"
    url = urlsplit(re.search(r"https?://[^'\"\s]+", test_text).group())
    assert url.port == 8000
    allowed = environment("web").get("ALLOWED_HOSTS")
    assert allowed is not None, "web must allow its own healthcheck host"
    hosts = {host.strip() for host in interpolate(allowed)[0].split(",")}
    assert url.hostname in hosts or "*" in hosts, hosts


def test_web_publishes_the_port_granian_binds_and_the_image_exposes():
    words = command_words(service("web")["command"])
    assert words[words.index("--port") + 1] == "8000"
    assert words[words.index("--host") + 1] == "0.0.0.0", "reachable from other containers"  # noqa: S104
    assert any(str(port).split(":")[-1] == "8000" for port in service("web")["ports"])
    assert "8000" in " ".join(dockerfile_arguments("EXPOSE"))


def test_the_worker_healthcheck_pings_its_own_celery_node():
    words = healthcheck_words("worker")
    assert words[:3] == ["celery", "-A", "controlplane"]
    assert "ping" in words
    assert "celery@$$HOSTNAME" in words, "$$ so the container, not compose, expands it"


def test_named_volumes_used_by_services_are_declared():
    declared = set(compose().get("volumes") or {})
    for name, spec in compose()["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} uses undeclared volume {source}"


# --- commands refer to real things ------------------------------------------------


def test_every_granian_target_is_a_module_attribute_that_exists():
    targets = []
    for words in all_app_command_words():
        if "granian" in words:
            after = words[words.index("granian") + 1 :]
            assert after[after.index("--interface") + 1] == "wsgi", "Django is a WSGI app here"
            targets += [w for w in after if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", w)]
    assert targets, "no granian command names an application"
    for target in targets:
        module, attribute = target.split(":")
        path = module_file(module)
        assert path.is_file(), f"{target}: {path.relative_to(REPO)} does not exist"
        assert module_defines(path, attribute), f"{path.relative_to(REPO)} defines no {attribute}"


def test_every_celery_app_named_with_dash_a_exists():
    apps = []
    for words in all_app_command_words():
        if "celery" not in words:
            continue
        for index, word in enumerate(words):
            if word in ("-A", "--app"):
                apps.append(words[index + 1])
            elif word.startswith("--app="):
                apps.append(word.split("=", 1)[1])
    assert apps, "no celery command names its app"
    for app in apps:
        module, _, attribute = app.partition(":")
        if module.endswith(".celery") or attribute:
            path = module_file(module)
        else:  # `celery -A pkg` finds the app in pkg/celery.py
            path = REPO.joinpath(*module.split(".")) / "celery.py"
        assert path.is_file(), f"celery -A {app}: {path.relative_to(REPO)} does not exist"
        if attribute:
            assert module_defines(path, attribute), (
                f"{path.relative_to(REPO)} defines no {attribute}"
            )


def test_the_web_entrypoint_exists_in_the_image_and_is_executable():
    entrypoint = command_words(service("web")["entrypoint"])[0]
    prefix = workdir().rstrip("/") + "/"
    relative = entrypoint.removeprefix(prefix) if entrypoint.startswith("/") else entrypoint
    assert not relative.startswith("/"), f"{entrypoint} is outside WORKDIR {workdir()}"
    path = REPO / relative
    assert path == ENTRYPOINT
    assert path.is_file()
    assert os.access(path, os.X_OK), f"{relative} is not executable"
    assert path.read_text(encoding="utf-8").startswith("#!"), "no shebang line"
    assert any(
        relative == source or relative.startswith(source.rstrip("/") + "/")
        for source in dockerfile_copy_sources()
    ), "the Dockerfile does not copy the entrypoint into the image"


def test_the_web_entrypoint_migrates_then_hands_over_to_the_command():
    script = ENTRYPOINT.read_text(encoding="utf-8")
    migrate = re.search(r"manage\.py\s+migrate\b[^\n]*--noinput", script)
    handover = re.search(r'^\s*exec\s+"\$@"\s*$', script, re.MULTILINE)
    assert migrate, "the entrypoint does not run migrate --noinput"
    assert handover, 'the entrypoint does not end with exec "$@"'
    assert migrate.start() < handover.start()
    assert re.search(r"^set -[a-z]*e", script, re.MULTILINE), "a failed migration must stop it"


def test_only_the_web_service_runs_migrations():
    assert not dockerfile_arguments("ENTRYPOINT"), "an image ENTRYPOINT would run for all"
    for name in ("worker", "beat"):
        spec = service(name)
        assert "entrypoint" not in spec, name
        assert "migrate" not in command_words(spec["command"]), name


def test_manage_py_subcommands_used_by_the_containers_exist():
    texts = [ENTRYPOINT.read_text(encoding="utf-8"), DOCKERFILE.read_text(encoding="utf-8")]
    texts += [" ".join(words) for words in all_app_command_words()]
    used = set().union(*(manage_py_subcommands(text) for text in texts))
    assert {"migrate", "collectstatic"} <= used
    known = django_builtin_commands() | project_commands()
    assert used <= known, f"unknown manage.py commands: {sorted(used - known)}"


# --- the Dockerfile and its build context -----------------------------------------


def test_the_image_is_python_311_slim_and_runs_as_a_non_root_user():
    assert dockerfile_arguments("FROM")[0].split()[0].startswith("python:3.11-slim")
    users = dockerfile_arguments("USER")
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_image_installs_the_project_and_collects_static_files():
    runs = " ".join(dockerfile_arguments("RUN"))
    assert "pip install --no-cache-dir ." in runs
    assert re.search(r"manage\.py\s+collectstatic\s+--noinput", runs)
    assert "PYTHONUNBUFFERED=1" in " ".join(dockerfile_arguments("ENV"))


def test_the_default_command_serves_the_wsgi_app_with_configurable_workers():
    cmd = " ".join(command_words(exec_form_or_words(dockerfile_arguments("CMD")[-1])))
    assert "granian --interface wsgi controlplane.wsgi:application" in cmd
    assert "--host 0.0.0.0 --port 8000" in cmd
    assert "--workers ${WEB_CONCURRENCY:-2}" in cmd
    assert "--blocking-threads ${WEB_THREADS:-16}" in cmd


def test_every_path_the_dockerfile_copies_exists_in_the_repository():
    sources = dockerfile_copy_sources()
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        assert source not in (".", "./"), "copy named paths, not the whole context"
        matches = list(REPO.glob(source)) if any(ch in source for ch in "*?[") else [REPO / source]
        assert matches, f"COPY {source}: nothing matches"
        for match in matches:
            assert match.exists(), f"COPY {source}: {match.relative_to(REPO)} does not exist"


def test_the_build_context_keeps_what_the_dockerfile_copies():
    for source in dockerfile_copy_sources():
        assert not dockerignore_excludes(source.removeprefix("./")), source


def test_the_build_context_leaves_out_local_state_and_secrets():
    for path in (".venv", ".git", "staticfiles", "node_modules", ".pytest_cache", ".env"):
        assert dockerignore_excludes(path), path
    assert dockerignore_excludes("routing/__pycache__/models.cpython-311.pyc")
    assert dockerignore_excludes("db.sqlite3")
    assert not dockerignore_excludes(".env.example")


# --- .env.example covers what compose needs ---------------------------------------


def test_the_interpolation_reader_tells_required_variables_from_defaulted_ones():
    text = "${A} $B ${C:-x} ${D-x} ${E:?set E} ${F?set F} ${G:+y} $${H} $$I ${J:-${K}}"
    resolved, required = interpolate(text, {"A": "1", "G": "g"})
    assert required == {"A", "B", "E", "F", "K"}
    assert resolved == "1  x x   y ${H} $I "


def test_env_example_lists_every_variable_compose_needs_without_a_default():
    assert ENV_EXAMPLE.is_file(), ".env.example is missing (README: cp .env.example .env)"
    missing = compose_variables_without_default() - env_example_names()
    assert not missing, f".env.example does not list {sorted(missing)}"


# --- every service, and what each command refers to ---------------------------------


def test_every_service_the_optional_one_included_has_a_healthcheck():
    for name, spec in compose()["services"].items():
        test = (spec.get("healthcheck") or {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert not spec["healthcheck"].get("disable"), f"{name} disables its healthcheck"


def test_every_dependency_waits_for_a_healthy_service():
    services = compose()["services"]
    for name, spec in services.items():
        depends_on = spec.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on must name a condition"
        for target, condition in depends_on.items():
            assert condition.get("condition") == "service_healthy", f"{name} -> {target}"
            assert services[target].get("healthcheck"), f"{name} waits on {target}'s healthcheck"


def test_the_one_env_file_is_dot_env_and_git_keeps_it_out():
    files = {path for name in compose()["services"] for path in env_files(name)}
    assert files == {".env"}, files
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored, "a .env holds secrets: .gitignore must list it"


def celery_subcommands() -> set[str]:
    from celery.bin.celery import celery

    return set(celery.commands)


def test_every_celery_subcommand_the_containers_run_exists():
    used = []
    for words in all_app_command_words():
        if words and words[0] == "celery":
            options_with_values = {"-A", "--app", "-b", "--broker", "--workdir"}
            rest = iter(words[1:])
            for word in rest:
                if word in options_with_values:
                    next(rest)
                elif not word.startswith("-"):
                    used.append(word)
                    break
    assert {"worker", "beat", "inspect"} <= set(used), used
    assert set(used) <= celery_subcommands(), used


def programs(words: list[str]) -> list[str]:
    """The programs a command runs: its first word, and the first word after `exec`."""
    found = [words[0]] if words else []
    found += [words[i + 1] for i, word in enumerate(words[:-1]) if word == "exec"]
    return found


def test_every_program_the_app_containers_run_is_in_the_image():
    # The slim image has python and sh; granian and celery come with the project's
    # dependencies; anything else must be a file of this repository copied into WORKDIR.
    dependencies = " ".join(
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    commands = [*all_app_command_words(), command_words(service("web")["entrypoint"])]
    for words in commands:
        for program in programs(words):
            if program in ("python", "sh"):
                continue
            if program in ("granian", "celery"):
                assert re.search(rf"\b{program}\b", dependencies), f"{program} is not a dependency"
                continue
            relative = program.removeprefix(workdir().rstrip("/") + "/")
            path = REPO / relative
            assert path.is_file(), f"{program}: {relative} is not in the repository"
            assert os.access(path, os.X_OK), f"{relative} is not executable"
            assert any(
                relative == source or relative.startswith(source.rstrip("/") + "/")
                for source in dockerfile_copy_sources()
            ), f"the Dockerfile does not copy {relative}"


def python_snippets() -> list[str]:
    """The code of every `python -c CODE` the app containers run."""
    snippets = []
    for words in all_app_command_words():
        snippets += [
            words[i + 2]
            for i, word in enumerate(words[:-2])
            if word in ("python", "python3") and words[i + 1] == "-c"
        ]
    return snippets


def test_python_snippets_in_healthchecks_parse_and_import_what_the_image_installs():
    snippets = python_snippets()
    assert len(snippets) == 2, "the web and beat healthchecks are python -c snippets"
    for snippet in snippets:
        tree = ast.parse(snippet.replace("$$", "$"))
        modules = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        for module in modules:
            assert importlib.util.find_spec(module), f"{snippet!r} imports {module}"


def test_beat_writes_its_schedule_where_its_healthcheck_looks_for_it():
    words = command_words(service("beat")["command"])
    schedule = words[words.index("--schedule") + 1]
    pattern = re.search(r"glob\.glob\('([^']+)'\)", healthcheck_text("beat")).group(1)
    assert fnmatch.fnmatch(schedule, pattern) or fnmatch.fnmatch(schedule + ".db", pattern)


# --- the web entrypoint, run ----------------------------------------------------------


def run_entrypoint(
    tmp_path: Path, migrate_status: int, *command: str
) -> subprocess.CompletedProcess:
    """docker/entrypoint-web.sh under sh, with a stand-in `python` that records its
    arguments and exits with `migrate_status`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/python.calls"\nexit {migrate_status}\n')
    python.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_entrypoint_migrates_empties_the_metrics_directory_then_runs_the_command(
    tmp_path: Path,
) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_123.db").write_bytes(b"stale")
    (metrics / "notes.txt").write_text("not ours")

    done = run_entrypoint(
        tmp_path,
        0,
        "sh",
        "-c",
        'echo "dir=$PROMETHEUS_MULTIPROC_DIR"; ls "$PROMETHEUS_MULTIPROC_DIR"',
    )

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "python.calls").read_text().split() == ["manage.py", "migrate", "--noinput"]
    assert done.stdout.split() == [f"dir={metrics}", "notes.txt"]


def test_a_failed_migration_stops_the_entrypoint_before_the_command(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path, 1, "sh", "-c", "echo served")

    assert done.returncode != 0
    assert "served" not in done.stdout
