"""Secrets: private key blocks, JWTs, API keys (by their vendors' prefixes, or assigned
to a name ending in "key"), and bearer tokens.

These run first, being the most specific: a later detector never claims their digits.
"""

from __future__ import annotations

import re

from routing.engine.pii.spans import _TOKEN_CHARS, _char_at, _char_before, _has_digit, _Spans

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
