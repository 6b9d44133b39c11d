"""The JSON parser of every API view.

JSON can carry text the database cannot store: a NUL character (`\\u0000`, refused by
PostgreSQL in text and jsonb columns) or half of a surrogate pair (`\\ud800` alone, which
no UTF-8 encoder accepts). Left in, such a string fails at the first write or lookup
with a 500; refused here, it is a 400 that names the field.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ValidationError

MSG_BAD_TEXT = "Text may not contain NUL (\\u0000) characters or unpaired surrogates."


def _bad(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def bad_text_paths(value: Any, path: str = "") -> list[str]:
    """Where in a decoded JSON document a string (a value or a key) cannot be stored."""
    found: list[str] = []
    if isinstance(value, str):
        if _bad(value):
            found.append(path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _bad(key):
                found.append(path or "body")
                continue
            found.extend(bad_text_paths(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(bad_text_paths(item, f"{path}[{index}]"))
    return found


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing strings the database cannot store (400, field errors)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        paths = bad_text_paths(data)
        if paths:  # (a key that is itself bad is named by the object holding it)
            raise ValidationError({path: [MSG_BAD_TEXT] for path in sorted(set(paths))})
        return data
