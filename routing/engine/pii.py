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

import ipaddress
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType

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


# -- accepted findings ------------------------------------------------------------------


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


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_TOKEN_CHARS = _WORD_CHARS | {"-"}


def _char_before(text: str, index: int) -> str:
    return text[index - 1] if index > 0 else ""


def _char_at(text: str, index: int) -> str:
    return text[index] if index < len(text) else ""


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


# -- private keys, tokens and API keys --------------------------------------------------

_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----")
_PRIVATE_KEY_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY-----")
# A truncated paste has no END line: take its headers and base64 lines.
_PRIVATE_KEY_BODY = re.compile(r"(?:\s*(?:Proc-Type|DEK-Info):[^\n]*)*(?:\s*[A-Za-z0-9+/=]{16,})*")


def _private_keys(text: str, spans: _Spans) -> None:
    # One forward search for END lines serves every BEGIN line, so many BEGIN lines
    # without an END cost linear time, not a rescan of the rest of the text each.
    end_line: re.Match[str] | None = None
    no_more_ends = False
    for begin in _PRIVATE_KEY_BEGIN.finditer(text):
        if not no_more_ends and (end_line is None or end_line.start() < begin.end()):
            end_line = _PRIVATE_KEY_END.search(text, begin.end())
            no_more_ends = end_line is None
        if end_line is not None and end_line.start() >= begin.end():
            end = end_line.end()
        else:
            body = _PRIVATE_KEY_BODY.match(text, begin.end())
            end = body.end() if body else begin.end()
        spans.add(begin.start(), end, "private_key")


# header.payload.signature; both JSON parts start with '{"', which is "eyJ" in base64url.
# The lookbehind sits after the literal (so the fast literal search still applies) and
# refuses a start inside a longer token: without it "eyJeyJeyJ..." would be rescanned
# from every "eyJ", quadratic time on the request path.
_JWT = re.compile(
    r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
)


def _jwts(text: str, spans: _Spans) -> None:
    for match in _JWT.finditer(text):
        spans.add(match.start(), match.end(), "token")


def _key_pattern(prefix: str, rest: str) -> re.Pattern[str]:
    """A key that starts with ``prefix`` at the start of a token (not inside "task-...").
    The check is a lookbehind placed after the literal, as for `_JWT`."""
    return re.compile(f"{re.escape(prefix)}(?<![A-Za-z0-9_-]{re.escape(prefix)}){rest}")


_PREFIXED_KEYS = (
    # OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-api03-...).
    _key_pattern("sk-", r"[A-Za-z0-9_-]{20,}"),
    # AWS access key ids (AKIA long-term, ASIA temporary) and Google API keys.
    _key_pattern("A", r"(?:[KS]IA[0-9A-Z]{16}|Iza[0-9A-Za-z_-]{35})"),
    # GitHub: ghp_ personal, gho_ OAuth, ghu_/ghs_ app, ghr_ refresh, fine-grained PATs.
    _key_pattern("gh", r"[pousr]_[A-Za-z0-9]{36,251}"),
    _key_pattern("github_pat_", r"[A-Za-z0-9_]{22,247}"),
    # Slack bot, app, user and refresh tokens.
    _key_pattern("xox", r"[abpr]-[A-Za-z0-9-]{10,}"),
    # Switchboard's own service keys: sb_<hex prefix>_<urlsafe secret>.
    _key_pattern("sb_", r"[0-9a-f]{4,16}_[A-Za-z0-9_-]{16,}"),
)


def _prefixed_api_keys(text: str, spans: _Spans) -> None:
    for pattern in _PREFIXED_KEYS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if _char_at(text, end) in _TOKEN_CHARS:
                continue  # a longer identifier than any key of this kind
            if _has_digit(match.group()):  # real keys are random: they contain digits
                spans.add(start, end, "api_key")


# `api_key = "..."`, `"apiKey": "..."`, `X-API-KEY: ...`, `aws_secret_access_key=...`.
# Anchored on the literal "key" in its three usual spellings; the name before it is
# checked in Python (a case-insensitive pattern would lose the fast literal search).
_ASSIGNED_KEYS = tuple(
    # "=" only as base64 padding at the end, so "key=key=key=..." is not one long value.
    re.compile(spelling + r"""["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9_\-./+]{16,}=*)""")
    for spelling in ("key", "KEY", "Key")
)
_KEY_NAME_ENDINGS = ("api", "api_", "api-", "secret", "secret_", "secret-", "access_", "access-")


def _assigned_api_keys(text: str, spans: _Spans) -> None:
    for pattern in _ASSIGNED_KEYS:
        for match in pattern.finditer(text):
            name = text[max(0, match.start() - 7) : match.start()].lower()
            if not name.endswith(_KEY_NAME_ENDINGS):
                continue
            start, end = match.span(1)
            value = match.group(1).rstrip(".")
            end = start + len(value)
            # A long value with letters and digits; `settings.OPENAI_API_KEY` is a name.
            if len(value) >= 16 and _has_digit(value) and any(c.isalpha() for c in value):
                spans.add(start, end, "api_key")


# Anchored on "earer" (the B may be either case); the token itself is what is masked.
_BEARER = re.compile(r"earer[ \t]+([A-Za-z0-9\-._~+/]{20,}=*)")


def _bearer_tokens(text: str, spans: _Spans) -> None:
    for match in _BEARER.finditer(text):
        b_index = match.start() - 1
        if b_index < 0 or text[b_index] not in "Bb" or _char_before(text, b_index).isalnum():
            continue
        if _has_digit(match.group(1)):
            spans.add(match.start(1), match.end(1), "token")


# -- e-mail addresses -------------------------------------------------------------------

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


# -- IPv6 -------------------------------------------------------------------------------

# Where an IPv6 address may be: "::", or three colons at most four hex digits apart
# (times such as 12:30:45 have neither). The pattern starts with the literal ":" so the
# regex engine skips quickly from colon to colon; the lookarounds then drop names such as
# "std::vec" or "Foo::bar", whose hex digits touch other letters.
_IPV6_HINT = re.compile(
    r":(?<![G-Zg-z_]:)(?<![G-Zg-z_][0-9A-Fa-f]:)(?<![G-Zg-z_][0-9A-Fa-f]{2}:)"
    r"(?<![G-Zg-z_][0-9A-Fa-f]{3}:)(?<![G-Zg-z_][0-9A-Fa-f]{4}:)"
    r"(?::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{0,4}:)"
    r"(?![0-9A-Fa-f]*[G-Zg-z_])"
)
_IPV6_BODY = re.compile(
    r"(?:[0-9A-Fa-f]{0,4}:){2,6}[0-9]{1,3}(?:\.[0-9]{1,3}){3}"  # with a dotted IPv4 tail
    r"|[0-9A-Fa-f:]{2,39}"
)
_HEX_AND_COLON = frozenset("0123456789ABCDEFabcdef:")
_MAX_IPV6 = 45


def _ipv6_addresses(text: str, spans: _Spans) -> None:
    scanned_to = 0
    for hint in _IPV6_HINT.finditer(text):
        if hint.start() < scanned_to:
            continue
        start = hint.start()
        floor = max(scanned_to, hint.start() - _MAX_IPV6)  # never walk back over a candidate
        while start > floor and text[start - 1] in _HEX_AND_COLON:
            start -= 1
        before = _char_before(text, start)
        if before.isalnum() or before in "_.":
            scanned_to = hint.end()  # "std::vector", "a.b::c": part of a longer name
            continue
        body = _IPV6_BODY.match(text, start)
        scanned_to = max(hint.end(), body.end() if body else 0)  # each colon is looked at once
        if body is None or body.end() < hint.end():
            continue
        end = body.end()
        after = _char_at(text, end)
        if after.isalnum() or after == "_" or (after == "." and _char_at(text, end + 1).isdigit()):
            continue
        if _looks_like_ipv6(body.group()):
            spans.add(start, end, "ip_address")


def _looks_like_ipv6(candidate: str) -> bool:
    colons = candidate.count(":")
    if "::" not in candidate and colons != 7 and not (colons == 6 and "." in candidate):
        return False  # not even the shape: times such as 12:30:45, MAC addresses
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    groups = [group for group in candidate.split(":") if group]
    if "." in candidate or len(groups) == 8:
        return True
    # "1::2" and "::1" are more often slices and loopback than someone's address.
    return len(groups) >= 2 and max(len(group) for group in groups) >= 3


# -- numbers: IBAN, IPv4, SSN, card, phone ----------------------------------------------

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


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![0-9A-Za-z_.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9A-Za-z_]|\.[0-9])")

_SSN = re.compile(
    r"(?<![0-9A-Za-z_-])(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}"
    r"(?![0-9A-Za-z_]|-[0-9])"
)

# Numbers that begin a run of digit groups, not one that is already under way ("89 3704
# 0044 0532 0130 01" is a mistyped IBAN, not a card or a phone number).
_NOT_MID_RUN = r"(?<![0-9A-Za-z_.+-])(?<![0-9][ ./-])"
_CARD = re.compile(
    _NOT_MID_RUN + r"(?:"
    r"[2-6][0-9]{12,18}"  # contiguous
    r"|[2-6][0-9]{3}(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}"  # 4-4-4-x
    r"(?P<tail>(?P=sep)[0-9]{3})?"  # 19-digit cards: 4-4-4-4-3
    r"|3[0-9]{3}(?P<sep2>[ -])[0-9]{6}(?P=sep2)[0-9]{4,5}"  # Amex 4-6-5, Diners 4-6-4
    r")(?![0-9A-Za-z_]|[.-][0-9])"
)

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


_SEPARATOR_BYTES = b" .()/-"
_MIN_IBAN_RUN_DIGITS = 8  # an IBAN's account number: in practice 8 digits or more in a row
_MIN_CARD_DIGITS = 13
_MIN_NANP_DIGITS = 10


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


def _valid_phone(candidate: str) -> bool:
    digits = len(candidate.encode().translate(None, b" .-()+/"))
    if not _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
        return False
    return _DATE_LIKE.fullmatch(candidate) is None
