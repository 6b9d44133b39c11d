"""Personal data and secrets in prompt text: which kinds, how many, and a masked copy.

The router needs to know *whether* a prompt carries personal data or credentials (a
privacy rule may keep it on a local model) and *which kinds*, never the values: findings
are types and counts, so a decision record can show them without leaking anything.
`mask_pii` gives a copy that is safe to store or show.

Correctness choices, each made to keep false positives low without missing real values:

* Card numbers count only when the Luhn check passes, IBANs only when the country's
  registered length and the mod-97 check pass, US SSNs only outside the never-issued
  ranges (area 000, 666, 9xx; group 00; serial 0000). Card numbers must start with 2-6
  (Mastercard 2-series, Amex, Diners, JCB, Visa, Mastercard, Discover, UnionPay, Maestro),
  so 13-digit millisecond timestamps and other ids starting with 1 are not cards.
* A dotted quad whose parts are all 0-255 is an IPv4 address even when it could be a
  four-part version number ("1.2.3.4"): the two look the same, and missing an address is
  worse for a privacy rule than flagging a version. A "v" prefix ("v1.2.3.4") or a fifth
  part makes it a version. Three-part versions ("Python 3.11.7") are never addresses.
* IPv6 addresses are checked with `ipaddress`; times (12:30:45) and MAC addresses are not
  valid IPv6, and an address must show at least one hextet of 3+ digits or all eight
  groups, so Python slices (``a[1::2]``) and the loopback ``::1`` are not reported.
* Phone numbers: international (+CC ...), North American (415-555-0100, (415) 555-0100)
  and national numbers with a trunk 0 (020 7946 0958, 06 12 34 56 78), with 8 to 15
  digits. A plain digit string is not a phone number (too many ids look like one), nor
  is a date (2024-01-15, 15.01.2024). National numbers without a trunk 0 and without a
  +CC (such as Spanish 612 345 678) are not recognised: they look like amounts.
* Each character belongs to at most one finding; detectors run from the most specific
  (a private key block, a JWT, an API key) to the least (a phone number), and a later
  detector skips anything overlapping an earlier finding. So the digits of an API key
  are not a phone number, and a card number is not also a phone number.

Speed: this runs on every request. Python's regex engine costs a few nanoseconds per
character for a pattern that starts with a character class and much less for one that
starts with a literal (it then skips ahead with a fast substring search), so nearly
every detector is anchored on a literal ("@", "eyJ", "sk-", ":" ...), and all the
digit-based ones share one scan for runs of digits and separators at least 7 characters
long; their specific patterns then run only inside those short runs.

Pure: no Django, no settings, no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from routing.engine.pii.contact import _emails
from routing.engine.pii.credentials import (
    _assigned_api_keys,
    _bearer_tokens,
    _jwts,
    _prefixed_api_keys,
    _private_keys,
)
from routing.engine.pii.network import _ipv6_addresses
from routing.engine.pii.numbers import _numbers
from routing.engine.pii.spans import _Spans

__all__ = ["PII_TYPES", "PLACEHOLDERS", "PiiFinding", "mask_pii", "scan_pii"]

PII_TYPES = (
    "email",
    "phone",
    "credit_card",
    "iban",
    "us_ssn",
    "ip_address",
    "api_key",
    "token",
    "private_key",
)

PLACEHOLDERS = MappingProxyType({kind: f"[{kind.upper()}]" for kind in PII_TYPES})


@dataclass(frozen=True, slots=True)
class PiiFinding:
    """One kind of sensitive value found in a text, and how many times. Deliberately
    without the values or their positions: findings are stored with decisions."""

    type: str
    count: int


def scan_pii(text: str) -> tuple[PiiFinding, ...]:
    """The kinds of sensitive values in ``text`` with their counts, sorted by type."""
    counts: dict[str, int] = {}
    for _start, _end, kind in _find(text):
        counts[kind] = counts.get(kind, 0) + 1
    return tuple(PiiFinding(kind, counts[kind]) for kind in sorted(counts))


def mask_pii(text: str) -> str:
    """``text`` with every value `scan_pii` counts replaced by its placeholder, such as
    ``[EMAIL]``; everything else is kept as it was."""
    found = _find(text)
    if not found:
        return text
    pieces: list[str] = []
    position = 0
    for start, end, kind in found:
        pieces.append(text[position:start])
        pieces.append(PLACEHOLDERS[kind])
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _find(text: str) -> list[tuple[int, int, str]]:
    spans = _Spans()
    # Most specific first: a later detector never claims what an earlier one found.
    _private_keys(text, spans)
    _jwts(text, spans)
    _prefixed_api_keys(text, spans)
    _assigned_api_keys(text, spans)
    _bearer_tokens(text, spans)
    _emails(text, spans)
    _ipv6_addresses(text, spans)
    _numbers(text, spans)
    return spans.items
