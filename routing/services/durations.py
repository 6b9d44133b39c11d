"""Durations as operators type them: "2h", "90m", "1d", "45s", "1h30m".

Units go from the largest to the smallest, each at most once. Zero, negative and
over-long durations are refused: an override must end by itself, and not so far ahead
that it is forgotten (SWITCHBOARD_MAX_OVERRIDE_SECONDS, a week by default).
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings

DEFAULT_MAX_OVERRIDE_SECONDS = 7 * 24 * 3600

MSG_NOT_A_DURATION = (
    "'{value}' is not a duration. Use a number and a unit, largest unit first: "
    "45s, 90m, 2h, 1d, 1h30m."
)
MSG_NOT_POSITIVE = "The duration must be longer than zero; got '{value}'."
MSG_TOO_LONG = "'{value}' is longer than the maximum of {limit} (SWITCHBOARD_MAX_OVERRIDE_SECONDS)."

_PATTERN = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def max_override_duration() -> timedelta:
    return timedelta(
        seconds=getattr(settings, "SWITCHBOARD_MAX_OVERRIDE_SECONDS", DEFAULT_MAX_OVERRIDE_SECONDS)
    )


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration for whole seconds: 5400s -> "1h30m"."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_duration(value: str) -> timedelta:
    """ "1h30m" -> timedelta(hours=1, minutes=30). Raises ValueError saying what is wrong."""
    text = str(value).strip().lower()
    if text.startswith("-"):
        raise ValueError(MSG_NOT_POSITIVE.format(value=value))
    match = _PATTERN.fullmatch(text)
    if not text or match is None:
        raise ValueError(MSG_NOT_A_DURATION.format(value=value))
    seconds = sum(
        int(count) * size for count, (_, size) in zip(match.groups(), _UNITS, strict=True) if count
    )
    if seconds <= 0:
        raise ValueError(MSG_NOT_POSITIVE.format(value=value))
    limit = max_override_duration()
    if seconds > limit.total_seconds():
        raise ValueError(MSG_TOO_LONG.format(value=value, limit=format_duration(limit)))
    return timedelta(seconds=seconds)
