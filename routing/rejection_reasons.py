"""Rejection reasons as the executor writes them (routing.execution), in the overview's
buckets. `reason_bucket` buckets one reason in Python; routing.rollup_sql builds the
same rule in SQL from `REASON_PREFIXES`, so the rollups and the page agree.
"""

from __future__ import annotations

TIMEOUT = "timeout"
HTTP_5XX = "http 5xx"
RATE_LIMITED = "rate limited (429)"
CONNECT = "connect"
REFUSAL = "refusal"
EMPTY = "empty answer"
INVALID = "invalid JSON / schema"
CUT_OFF = "cut off"
CIRCUIT_OPEN = "circuit open / cooling down"
OTHER = "other"
# The chart's stacking order; anything unrecognised is "other".
REASON_BUCKETS = (
    TIMEOUT,
    HTTP_5XX,
    RATE_LIMITED,
    CONNECT,
    REFUSAL,
    EMPTY,
    INVALID,
    CUT_OFF,
    CIRCUIT_OPEN,
    OTHER,
)
# (prefix of the stripped, lower-cased reason, bucket): the first that matches wins.
REASON_PREFIXES = (
    ("rate limited", RATE_LIMITED),
    ("http_429", RATE_LIMITED),
    ("first_token_timeout", TIMEOUT),
    ("timeout", TIMEOUT),
    ("connect", CONNECT),
    ("http_5xx", HTTP_5XX),
    ("cooling down", CIRCUIT_OPEN),
    ("refusal", REFUSAL),
    ("empty answer", EMPTY),
    ("invalid json", INVALID),
    ("schema violation", INVALID),
    ("answer cut off", CUT_OFF),
)
# A stream that failed after its first token says so first; the bucket is what followed.
STREAM_FAILED = "stream failed after the first token: "


def reason_bucket(reason: str | None) -> str:
    """The chart bucket of one rejected attempt's reason."""
    text = (reason or "").strip().lower()
    if text.startswith(STREAM_FAILED):
        text = text[len(STREAM_FAILED) :]
    for prefix, bucket in REASON_PREFIXES:
        if text.startswith(prefix):
            return bucket
    return OTHER
