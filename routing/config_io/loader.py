"""Read the configuration files of a directory and check their structure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from routing.config_io import schemas
from routing.config_io.errors import ConfigIssue, key_path

FILES: dict[str, dict[str, Any]] = {
    "models.yaml": schemas.MODELS,
    "agents.yaml": schemas.AGENTS,
    "routing.yaml": schemas.ROUTING,
    "llm_routing.yaml": schemas.LLM_ROUTING,
}
ENVIRONMENTS_DIR = "environments"
API_KEY_MESSAGE = 'must name an environment variable as "${NAME}"; a secret never goes in a file'


@dataclass
class LoadedConfig:
    """The parsed documents of one directory: file name -> data (only files present)."""

    documents: dict[str, Any] = field(default_factory=dict)
    environments: dict[str, Any] = field(default_factory=dict)  # name -> data

    def get(self, file: str) -> Any:
        return self.documents.get(file)


def _read_yaml(path: Path, display: str, issues: list[ConfigIssue]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issues.append(ConfigIssue(display, "", f"cannot be read: {exc}"))
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        issues.append(ConfigIssue(display, where, f"is not valid YAML: {problem}"))
        return None


def _check(data: Any, schema: dict[str, Any], display: str, issues: list[ConfigIssue]) -> bool:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        path = list(error.absolute_path)
        message = error.message
        if path and path[-1] == "api_key":
            # The value may be a real secret: never quote it back.
            message = API_KEY_MESSAGE
        issues.append(ConfigIssue(display, key_path(path), message))
    return not errors


def load_directory(directory: Path) -> tuple[LoadedConfig, list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    loaded = LoadedConfig()
    if not directory.is_dir():
        return loaded, [ConfigIssue(str(directory), "", "is not a directory")]
    for name, schema in FILES.items():
        path = directory / name
        if not path.exists():
            continue
        data = _read_yaml(path, name, issues)
        if data is not None and _check(data, schema, name, issues):
            loaded.documents[name] = data
        elif data is None and not any(i.file == name for i in issues):
            issues.append(ConfigIssue(name, "", "is empty"))
    env_dir = directory / ENVIRONMENTS_DIR
    if env_dir.is_dir():
        for path in sorted(env_dir.glob("*.yaml")):
            display = f"{ENVIRONMENTS_DIR}/{path.name}"
            data = _read_yaml(path, display, issues)
            if data is None and not any(i.file == display for i in issues):
                issues.append(ConfigIssue(display, "", "is empty"))
            elif data is not None and _check(data, schemas.ENVIRONMENT, display, issues):
                loaded.environments[path.stem] = data
    if not loaded.documents and not loaded.environments and not issues:
        issues.append(
            ConfigIssue(
                str(directory),
                "",
                "holds none of models.yaml, agents.yaml, routing.yaml, llm_routing.yaml, environments/*.yaml",
            )
        )
    return loaded, issues
