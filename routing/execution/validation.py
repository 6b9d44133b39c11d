"""Is a "successful" answer actually usable? Seed 001's checks, pure functions.

An answer is rejected when it is empty, cut off while a schema was asked for, a refusal,
or (with a response schema) not JSON that validates. JSON inside a markdown fence is
accepted, since models wrap JSON in ```json fences whatever they are told.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

# Seed 001's list: any case-insensitive substring match is a refusal.
DEFAULT_REFUSAL_PATTERNS = (
    "nie wiem",
    "I cannot",
    "I can't",
    "as an AI",
    "I don't know",
    "I'm not able",
    "I am not able",
    "I'm unable",
    "I am unable",
    "beyond my capabilities",
)

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    outcome: str  # success | rejected | invalid (seed 001's outcomes)
    reason: str | None
    content: Any  # the parsed JSON when a schema was given, else the text


def schema_error(schema: Mapping[str, Any]) -> str | None:
    """Why a caller's response_schema is not itself a valid JSON Schema, or None."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def extract_json(text: str) -> Any:
    """The JSON in an answer: the whole text, or the first fenced block that parses."""
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for block in _FENCE.findall(stripped):
        try:
            return json.loads(block.strip())
        except ValueError:
            continue
    raise ValueError("no JSON object found (not even inside a ``` fence)")


@lru_cache(maxsize=64)
def _refusal_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(p) for p in patterns), re.IGNORECASE)


def check_answer(
    text: str,
    finish_reason: str | None,
    *,
    schema: Mapping[str, Any] | None,
    refusal_patterns: Sequence[str] = DEFAULT_REFUSAL_PATTERNS,
) -> Verdict:
    if not text.strip():
        return Verdict(False, "rejected", "empty answer", None)
    if schema is not None and finish_reason == "length":
        return Verdict(
            False,
            "invalid",
            "answer cut off (finish_reason length) while a schema was asked for",
            None,
        )
    if refusal_patterns:
        match = _refusal_regex(tuple(refusal_patterns)).search(text)
        if match:
            return Verdict(False, "rejected", f"refusal ({match.group(0)!r})", None)
    if schema is None:
        return Verdict(True, "success", None, text)
    try:
        data = extract_json(text)
    except ValueError as exc:
        return Verdict(False, "invalid", f"invalid JSON: {exc}", None)
    errors = sorted(
        _validator(json.dumps(schema, sort_keys=True)).iter_errors(data), key=lambda e: e.path
    )
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return Verdict(False, "invalid", f"schema violation at {where}: {first.message}", None)
    return Verdict(True, "success", None, data)
