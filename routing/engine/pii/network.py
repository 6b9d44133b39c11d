"""IP addresses: IPv6 found from its colons and checked with `ipaddress`, and IPv4 as a
dotted quad of 0-255 (matched inside the runs of digits that `numbers` finds).
"""

from __future__ import annotations

import ipaddress
import re

from routing.engine.pii.spans import _char_at, _char_before, _Spans

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


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?<![0-9A-Za-z_.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9A-Za-z_]|\.[0-9])")
