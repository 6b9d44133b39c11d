"""What the rule form shows under a condition as it is typed: "valid" with the names it
reads, or the error with a caret under its position.

The check is routing.conditions' own (the one the model runs on save), so what the page
accepts is exactly what saving accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from routing.conditions import VOCABULARY, ConditionError, compile_condition

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # as Python's tokenizer counts lines


@dataclass(frozen=True)
class ConditionReport:
    text: str
    error: ConditionError | None
    # The erroneous line, and what goes before the caret under it: the same tabs, spaces
    # for everything else, so a monospace font puts the caret under the column.
    line_text: str = ""
    caret_indent: str = ""
    names: tuple[tuple[str, str], ...] = ()  # (dotted name, what it means), sorted

    @property
    def valid(self) -> bool:
        return self.error is None


def condition_report(text: str) -> ConditionReport:
    try:
        compiled = compile_condition(text)
    except ConditionError as error:
        lines = _LINE_BREAK.split(text)
        line_text = lines[error.line - 1] if 0 < error.line <= len(lines) else ""
        before = line_text[: error.column - 1].ljust(error.column - 1)
        indent = "".join("\t" if ch == "\t" else " " for ch in before)
        return ConditionReport(text, error, line_text=line_text, caret_indent=indent)
    names = tuple((name, VOCABULARY.get(name, "")) for name in sorted(compiled.names))
    return ConditionReport(text, None, names=names)
