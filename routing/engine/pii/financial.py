"""Financial and identity numbers: card numbers (Luhn), IBANs (registered length and
mod-97) and US social security numbers (outside the never-issued ranges).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import MappingProxyType

from routing.engine.pii.spans import _NOT_MID_RUN, _char_at, _Spans

_SSN = re.compile(
    r"(?<![0-9A-Za-z_-])(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}"
    r"(?![0-9A-Za-z_]|-[0-9])"
)

_CARD = re.compile(
    _NOT_MID_RUN + r"(?:"
    r"[2-6][0-9]{12,18}"  # contiguous
    r"|[2-6][0-9]{3}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}"  # 4-4-4-x
    r"(?P<tail>(?P=sep)[0-9]{3})?"  # 19-digit cards: 4-4-4-4-3
    r"|3[0-9]{3}(?P<sep2>[ -])[0-9]{6}(?P=sep2)[0-9]{4,5}"  # Amex 4-6-5, Diners 4-6-4
    r")(?![0-9A-Za-z_]|[.-][0-9])"
)

_IBAN = re.compile(r"(?<![0-9A-Za-z_])([A-Z]{2})[0-9]{2}(?: ?[0-9A-Z]){10,30}")
_IBAN_GROUPED = re.compile(r"[0-9A-Z]{4}(?: [0-9A-Z]{4})*(?: [0-9A-Z]{1,3})?")
# From the SWIFT IBAN registry: a country's IBANs all have this many characters.
_IBAN_LENGTHS = MappingProxyType(
    {
        "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
        "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
        "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
        "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
        "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
        "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
        "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
        "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
        "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
        "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
        "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    }
)  # fmt: skip
_IBAN_REACH = 44  # the longest IBAN (34 characters) written in groups of four


_IBAN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "


def _iban_around(text: str, run_start: int, spans: _Spans) -> None:
    """An IBAN's letters come before its digits: look for one that starts shortly before
    this run of digits (or at it) and runs through it."""
    before = text[max(0, run_start - _IBAN_REACH) : run_start]
    reach = len(before) - len(before.rstrip(_IBAN_CHARS))  # nothing else fits in an IBAN
    if reach < 2:
        return  # the usual case: no country code just before the digits
    high = min(len(text), run_start + _IBAN_REACH)
    for match in _IBAN.finditer(text, run_start - reach, high):
        if match.start() > run_start:
            break
        found = _valid_iban(text, match)
        if found is not None and found[1] > run_start:
            spans.add(found[0], found[1], "iban")
            return


def _valid_iban(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    length = _IBAN_LENGTHS.get(match.group(1))
    if length is None:
        return None
    written = _prefix_holding(match.group(), length)
    if written is None:
        return None
    end = match.start() + len(written)
    if _char_at(text, end).isalnum():
        return None  # longer than this country's IBANs
    compact = written.replace(" ", "")
    if " " in written and not _IBAN_GROUPED.fullmatch(written):
        return None
    if not _mod97_ok(compact):
        return None
    return match.start(), end


def _prefix_holding(written: str, count: int) -> str | None:
    """The shortest prefix of ``written`` with ``count`` characters besides spaces."""
    kept = 0
    for index, char in enumerate(written):
        if char != " ":
            kept += 1
            if kept == count:
                return written[: index + 1]
    return None


# ISO 13616: letters count as two digits, A = 10 ... Z = 35.
_IBAN_LETTER_DIGITS = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})


def _mod97_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int(rearranged.translate(_IBAN_LETTER_DIGITS)) % 97 == 1


def _card_spans(match: re.Match[str]) -> Iterator[tuple[int, int]]:
    """Where the card number is, longest reading first: with a 4-4-4-4-3 match, the last
    three digits may instead be a CVV written after a 16-digit card."""
    if _luhn_ok(_only_digits(match.group())):
        yield match.span()
    if match.group("tail"):
        end = match.start("tail")
        if _luhn_ok(_only_digits(match.string[match.start() : end])):
            yield match.start(), end


def _only_digits(value: str) -> str:
    return value.replace(" ", "").replace("-", "")


# Luhn: every second digit from the right is doubled, and a doubled digit above 9 loses 9.
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def _luhn_ok(digits: str) -> bool:
    kept = digits[-1::-2].encode()
    doubled = digits[-2::-2].translate(_LUHN_DOUBLED).encode()
    return (sum(kept) + sum(doubled) - 48 * len(digits)) % 10 == 0  # 48 is "0"
