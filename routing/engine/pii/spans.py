"""Accepted findings, and the small character checks the detectors share."""

from __future__ import annotations

from bisect import bisect_left


class _Spans:
    """Accepted findings as non-overlapping (start, end, type), kept sorted by start."""

    __slots__ = ("items", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.items: list[tuple[int, int, str]] = []

    def add(self, start: int, end: int, kind: str) -> bool:
        """Record a finding unless it overlaps one already accepted."""
        index = bisect_left(self.starts, start)
        if index and self.items[index - 1][1] > start:
            return False
        if index < len(self.items) and self.items[index][0] < end:
            return False
        self.starts.insert(index, start)
        self.items.insert(index, (start, end, kind))
        return True

    def covering(self, position: int) -> int | None:
        """The end of the finding that contains ``position``, if any."""
        index = bisect_left(self.starts, position + 1) - 1
        if index >= 0 and self.items[index][1] > position:
            return self.items[index][1]
        return None


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_TOKEN_CHARS = _WORD_CHARS | {"-"}


def _char_before(text: str, index: int) -> str:
    return text[index - 1] if index > 0 else ""


def _char_at(text: str, index: int) -> str:
    return text[index] if index < len(text) else ""


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


# Numbers that begin a run of digit groups, not one that is already under way ("89 3704
# 0044 0532 0130 01" is a mistyped IBAN, not a card or a phone number).
_NOT_MID_RUN = r"(?<![0-9A-Za-z_.+-])(?<![0-9][ ./-])"
