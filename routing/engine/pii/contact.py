"""Contact details: e-mail addresses, and phone numbers (international, North American,
and national with a trunk 0) inside the runs of digits that `numbers` finds.
"""

from __future__ import annotations

import re

from routing.engine.pii.spans import _NOT_MID_RUN, _Spans

# Found from the "@" (a fast literal search), then the local part is read backwards.
_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})(?![A-Za-z0-9-])"
)
_LOCAL_PART_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_MAX_LOCAL_PART = 64


def _emails(text: str, spans: _Spans) -> None:
    for match in _EMAIL_DOMAIN.finditer(text):
        at = match.start()
        start = at
        while start > 0 and at - start < _MAX_LOCAL_PART and text[start - 1] in _LOCAL_PART_CHARS:
            start -= 1
        while start < at and text[start] == ".":
            start += 1
        if start < at:
            spans.add(start, match.end(), "email")


_PHONE_END = r"(?![0-9A-Za-z_]|[.-][0-9])"
# International: +CC then groups, an area code may sit in parentheses: +44 (0)20 ...
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![0-9A-Za-z_+])\+[1-9][0-9]{0,3}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,6})){1,6}(?![0-9])"
)
# North American: (415) 555-0100, 415-555-0100, 415.555.0100, 1-800-555-0199.
_PHONE_NANP = re.compile(
    _NOT_MID_RUN + r"(?:1[ .-])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])"
    r"[2-9][0-9]{2}[ .-][0-9]{4}" + _PHONE_END
)
# National with a trunk 0: 020 7946 0958, 06 12 34 56 78, 030/12345678, (02) 9876 5432.
_PHONE_TRUNK = re.compile(
    _NOT_MID_RUN + r"(?:\(0[1-9][0-9]{0,3}\)[ .-]?|0[1-9][0-9]{0,3}[ ./-])"
    r"[0-9]{2,8}(?:[ .-][0-9]{2,4}){0,4}" + _PHONE_END
)
_DATE_LIKE = re.compile(
    r"[0-9]{1,2}([./-])[0-9]{1,2}\1[0-9]{2,4}|[0-9]{4}([./-])[0-9]{1,2}\2[0-9]{1,2}"
)
_MIN_PHONE_DIGITS, _MAX_PHONE_DIGITS = 8, 15
_MIN_NANP_DIGITS = 10


def _phones(text: str, low: int, high: int, digits: int, spans: _Spans) -> None:
    around = text[low:high]
    candidates: list[re.Match[str]] = []
    if "+" in around:
        candidates.extend(_PHONE_INTERNATIONAL.finditer(text, low, high))
    if digits >= _MIN_NANP_DIGITS:
        candidates.extend(_PHONE_NANP.finditer(text, low, high))
    # A trunk 0 starts the run or follows a "(", a space or a "/" inside it.
    if around[:2].endswith("0") or "(0" in around or " 0" in around or "/0" in around:
        candidates.extend(_PHONE_TRUNK.finditer(text, low, high))
    for match in candidates:
        if _valid_phone(match.group()):
            spans.add(match.start(), match.end(), "phone")


def _valid_phone(candidate: str) -> bool:
    digits = len(candidate.encode().translate(None, b" .-()+/"))
    if not _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
        return False
    return _DATE_LIKE.fullmatch(candidate) is None
