"""The one scan for runs of digits that every number-shaped detector shares, and the
checks that decide which detectors run on each run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from routing.engine.pii.contact import _MIN_PHONE_DIGITS, _phones
from routing.engine.pii.financial import _CARD, _SSN, _card_spans, _iban_around
from routing.engine.pii.network import _IPV4
from routing.engine.pii.spans import _Spans

# A run of digits joined by short separator sequences, at least 7 characters long;
# everything number-shaped is looked for inside these runs only. Finding them is the one
# scan that cannot start from a literal, so for ASCII text (where byte offsets are
# character offsets) it runs on a copy with every digit turned into "0": the pattern then
# starts with a literal and the engine jumps from digit to digit (twice as fast).
_NUMBER_RUN = re.compile(r"[0-9](?=[0-9 .()/\-]{6})(?:[ .()/\-]{0,3}[0-9])*")
_NUMBER_RUN_ASCII = re.compile(rb"0(?=[0 .()/\-]{6})(?:[ .()/\-]{0,3}0)*")
_DIGITS_AS_ZERO = bytes(
    0x30 if 0x30 <= byte <= 0x39 else byte if byte in b" .()/-" else 0x78 for byte in range(256)
)


def _number_runs(text: str) -> Iterator[tuple[int, int]]:
    if text.isascii():
        masked = text.encode("ascii").translate(_DIGITS_AS_ZERO)
        for run in _NUMBER_RUN_ASCII.finditer(masked):
            yield run.span()
    else:
        for run in _NUMBER_RUN.finditer(text):
            yield run.span()


_SEPARATOR_BYTES = b" .()/-"
_MIN_IBAN_RUN_DIGITS = 8  # an IBAN's account number: in practice 8 digits or more in a row
_MIN_CARD_DIGITS = 13


def _numbers(text: str, spans: _Spans) -> None:
    size = len(text)
    for start, end in _number_runs(text):
        written = text[start:end]
        dots = written.count(".")
        if end - start < _MIN_PHONE_DIGITS and dots < 3:
            continue  # a version or an amount, such as "2.1.3"
        if spans.items:
            covered_to = spans.covering(start)
            if covered_to is not None and covered_to >= end:
                continue  # inside an IBAN, key or address found already
        # Runs are ASCII; deleting bytes is the cheapest way to count digits.
        digits = len(written.encode().translate(None, _SEPARATOR_BYTES))
        if digits >= _MIN_IBAN_RUN_DIGITS and "-" not in written and "." not in written:
            _iban_around(text, start, spans)  # IBANs are written with spaces only
        # The window reaches back for a "+" or "(" and on for the lookaheads. Each
        # pattern runs only where the run could hold its kind of number: most runs are
        # dates, amounts and versions, and skipping them keeps this cheap.
        low = max(0, start - 1)
        high = min(size, end + 2)
        if dots >= 3:
            _add_all(_IPV4.finditer(text, low, high), "ip_address", spans)
        if digits >= 9 and written.count("-") >= 2:
            _add_all(_SSN.finditer(text, low, high), "us_ssn", spans)
        if digits >= _MIN_CARD_DIGITS:
            for match in _CARD.finditer(text, low, high):
                for card_start, card_end in _card_spans(match):
                    if spans.add(card_start, card_end, "credit_card"):
                        break  # the first reading that overlaps nothing found already
        covered_to = spans.covering(start)
        if digits >= _MIN_PHONE_DIGITS and (covered_to is None or covered_to < end):
            _phones(text, low, high, digits, spans)


def _add_all(matches: Iterator[re.Match[str]], kind: str, spans: _Spans) -> None:
    for match in matches:
        spans.add(match.start(), match.end(), kind)
