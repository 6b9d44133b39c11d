"""Spend accounting: every billed token counted once, atomically, in every scope.

One INSERT ... ON CONFLICT DO UPDATE adds to every (scope, key, period) bucket at once
(global, agent, provider, model; day and month), so concurrent requests in any number
of processes never lose an increment, and no row is read first. Rows are written in a
fixed order so two transactions never wait on each other in opposite orders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import orjson
from django.db import connection

LEDGER = "routing_spendledger"
SESSIONS = "routing_sessionusage"


@dataclass(frozen=True, slots=True)
class Charge:
    """What one billed call cost, and whose it was."""

    model: str
    provider: str
    cost_usd: float
    prompt_tokens: int
    completion_tokens: int


def _buckets(charges: Iterable[Charge], agent: str | None, now: datetime) -> list[tuple]:
    day, month = now.date(), now.date().replace(day=1)
    totals: dict[tuple[str, str, str, object], list] = defaultdict(lambda: [Decimal(0), 0, 0, 0])
    for charge in charges:
        scopes = [("global", ""), ("provider", charge.provider), ("model", charge.model)]
        if agent:
            scopes.append(("agent", agent))
        for scope, key in scopes:
            for period, start in (("day", day), ("month", month)):
                bucket = totals[(scope, key, period, start)]
                bucket[0] += Decimal(str(charge.cost_usd))
                bucket[1] += charge.prompt_tokens
                bucket[2] += charge.completion_tokens
                bucket[3] += 1
    return [(*key, *values) for key, values in sorted(totals.items(), key=lambda kv: kv[0][:3])]


@dataclass(frozen=True, slots=True)
class Spend:
    """What one request spent, and on whose account: its billed calls, its agent and
    session, and when (which day and month buckets it falls in)."""

    charges: tuple[Charge, ...]
    agent: str | None
    session_id: str | None
    now: datetime

    def ledger_rows(self) -> list[tuple]:
        # The ledger is the money ledger: a $0 call (a local model) changes no budget, so
        # it takes no row lock on the shared global bucket. Its tokens are in the
        # decision row and in the session's usage.
        return _buckets([c for c in self.charges if c.cost_usd > 0], self.agent, self.now)

    def session_totals(self) -> tuple[int, Decimal]:
        tokens = sum(c.prompt_tokens + c.completion_tokens for c in self.charges)
        return tokens, sum((Decimal(str(c.cost_usd)) for c in self.charges), Decimal(0))


def spend_record(spend: Spend) -> None:
    """The ledger and session upserts as statements of their own, for a caller's
    transaction (where `spend_ctes_postgresql` cannot be used)."""
    now, session_id = spend.now, spend.session_id
    rows = spend.ledger_rows()
    if rows and connection.vendor == "postgresql":
        _upsert_postgresql(rows, now)
    elif rows:
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        params: list[object] = []
        for scope, key, period, start, cost, prompt, completion, requests in rows:
            params += [scope, key, period, start, cost, prompt, completion, requests, now]
        sql = (
            f"INSERT INTO {LEDGER} (scope, key, period, period_start, cost_usd, prompt_tokens,"  # noqa: S608
            " completion_tokens, requests, updated_at)"
            f" VALUES {values}"
            f" ON CONFLICT (scope, key, period, period_start) DO UPDATE SET {LEDGER_ADD}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    if session_id:
        tokens, cost = spend.session_totals()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {SESSIONS} (session_id, tokens, cost_usd, started_at, updated_at)"  # noqa: S608
                f" VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id) DO UPDATE SET {SESSION_ADD}",
                [session_id, tokens, cost, now, now],
            )


# What an upsert adds to a row that is already there.
LEDGER_ADD = (
    f"cost_usd = {LEDGER}.cost_usd + excluded.cost_usd,"
    f" prompt_tokens = {LEDGER}.prompt_tokens + excluded.prompt_tokens,"
    f" completion_tokens = {LEDGER}.completion_tokens + excluded.completion_tokens,"
    f" requests = {LEDGER}.requests + excluded.requests,"
    " updated_at = excluded.updated_at"
)
SESSION_ADD = (
    f"tokens = {SESSIONS}.tokens + excluded.tokens,"
    f" cost_usd = {SESSIONS}.cost_usd + excluded.cost_usd,"
    " updated_at = excluded.updated_at"
)
# The ledger upsert on PostgreSQL: the rows as one JSON array (one parameter: psycopg
# dumps eight Python lists as arrays slowly), so the statement is constant whatever the
# number of rows. Costs travel as JSON strings, so they arrive exact.
LEDGER_UPSERT_PG = (
    f"INSERT INTO {LEDGER} (scope, key, period, period_start, cost_usd, prompt_tokens,"  # noqa: S608
    " completion_tokens, requests, updated_at)"
    " SELECT s, k, p, ps, c, pt, ct, r, %s FROM jsonb_to_recordset(%s::jsonb)"
    " AS t(s varchar, k varchar, p varchar, ps date, c numeric, pt bigint, ct bigint, r bigint)"
    f" ON CONFLICT (scope, key, period, period_start) DO UPDATE SET {LEDGER_ADD}"
)
# The session upsert.
SESSION_UPSERT_PG = (
    f"INSERT INTO {SESSIONS} (session_id, tokens, cost_usd, started_at, updated_at)"  # noqa: S608
    f" VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id) DO UPDATE SET {SESSION_ADD}"
)


_LEDGER_KEYS = ("s", "k", "p", "ps", "c", "pt", "ct", "r")


def _ledger_params(rows: list[tuple], now: datetime) -> list[object]:
    """`now` and the rows as LEDGER_UPSERT_PG takes them, in their order."""
    data = [dict(zip(_LEDGER_KEYS, row, strict=True)) for row in rows]
    return [now, orjson.dumps(data, default=_exact).decode()]


def _exact(value: object) -> str:
    if type(value) is Decimal:
        return str(value)
    raise TypeError(type(value).__name__)


def spend_ctes_postgresql(spend: Spend) -> tuple[str, list[object]]:
    """The ledger and session upserts as data-modifying CTEs, for a caller to put in
    front of its own statement (the audit row's INSERT): PostgreSQL runs each exactly
    once, in the caller's one statement, so the spend and the row it belongs to commit
    together in one round trip without BEGIN and COMMIT. Ledger rows first, then the
    session, as spend_record locks them. Only the upserts with something to write:
    calls to $0 models add no ledger row, a request without a session no session row
    (and nothing at all gives "" and no parameters)."""
    ctes: list[str] = []
    params: list[object] = []
    rows = spend.ledger_rows()
    if rows:
        ctes.append(f"ledger AS ({LEDGER_UPSERT_PG})")
        params += _ledger_params(rows, spend.now)
    if spend.session_id is not None:
        tokens, cost = spend.session_totals()
        ctes.append(f"session AS ({SESSION_UPSERT_PG})")
        params += [spend.session_id, tokens, cost, spend.now, spend.now]
    return (f"WITH {', '.join(ctes)} " if ctes else ""), params


def _upsert_postgresql(rows: list[tuple], now: datetime) -> None:
    """The ledger upsert with the rows as one JSON array: a constant statement, whatever
    the number of rows."""
    with connection.cursor() as cursor:
        cursor.execute(LEDGER_UPSERT_PG, _ledger_params(rows, now))
