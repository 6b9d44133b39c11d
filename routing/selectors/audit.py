"""Reads for the audit log pages: filtered decisions, a page at a time by keyset cursor,
the whole filtered set for a CSV export, and one decision.

The filters are the API's (routing.api.filters.DecisionFilter), so the page, the CSV and
GET /api/decisions agree on what "agent=x&pii=true" means and on what a bad value is.

Pages are keyset pages over (created_at, id), newest first: every filter has an index
that ends in created_at, so a page is one short index range scan however deep it is and
however many rows there are. No COUNT(*), no OFFSET.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from routing.api.filters import DecisionFilter
from routing.models import Decision

PAGE_SIZE = 50
EXPORT_CHUNK_SIZE = 2000
NEWER, OLDER = "n", "o"

MSG_BAD_CURSOR = "This page link is not valid (any more). Start again from the newest decisions."

# What a row of the list shows; the heavy JSON columns (attempts, trace, features) and
# the prompts stay in the database until a decision's own page asks for them.
LIST_COLUMNS = (
    "id",
    "public_id",
    "created_at",
    "agent_key",
    "model_used",
    "provider",
    "outcome",
    "error_code",
    "strategy",
    "complexity",
    "pii_types",
    "local_only",
    "cost_usd",
    "latency_ms",
    "cached",
)
EXPORT_COLUMNS = (
    *LIST_COLUMNS,
    "api_key_name",
    "task_id",
    "session_id",
    "task_type",
    "privacy_level",
    "rule",
    "warning_level",
    "chain",
    "prompt_tokens",
    "completion_tokens",
    "usage_estimated",
    "fallback_tax_usd",
    "config_version",
)


@dataclass(frozen=True)
class DecisionFilters:
    """Validated filter values (as DecisionFilter gives them) or the field errors."""

    values: dict[str, Any]
    errors: dict[str, list[str]]

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Cursor:
    """A position in the list: rows strictly newer or strictly older than (created_at, id)."""

    direction: str
    created_at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.direction}|{self.created_at.isoformat()}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Raises ValueError for anything this module did not encode."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            direction, created_at, pk = raw.split("|")
            when = datetime.fromisoformat(created_at)
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ValueError(token) from exc
        if direction not in (NEWER, OLDER) or when.tzinfo is None:
            raise ValueError(token)
        return cls(direction, when, int(pk))


@dataclass(frozen=True)
class DecisionPage:
    rows: list[Decision]
    newer: str | None  # the cursor of the page before (newer rows), if there is one
    older: str | None  # the cursor of the page after (older rows), if there is one


def decision_filters(params: Mapping[str, str]) -> DecisionFilters:
    """Parse query parameters as the API does. An empty value means "any" (an HTML form
    sends every field), and parameters the filter does not name are ignored."""
    data = {key: value for key, value in params.items() if value.strip()}
    parsed = DecisionFilter(data=data)
    if not parsed.is_valid():
        errors = {name: [str(e) for e in errs] for name, errs in parsed.errors.items()}
        return DecisionFilters(values={}, errors=errors)
    return DecisionFilters(values=dict(parsed.validated_data), errors={})


def decision_filtered(filters: Mapping[str, Any]) -> QuerySet[Decision]:
    """Decisions matching validated filter values, in no particular order."""
    return DecisionFilter().narrow(Decision.objects.all(), dict(filters))


def _after(cursor: Cursor) -> Q:
    # created_at <= t bounds the index range scan; the OR only sorts out the few rows
    # that share t. (A row comparison would be neater, but the ORM has none.)
    if cursor.direction == OLDER:
        return Q(created_at__lte=cursor.created_at) & (
            Q(created_at__lt=cursor.created_at) | Q(id__lt=cursor.id)
        )
    return Q(created_at__gte=cursor.created_at) & (
        Q(created_at__gt=cursor.created_at) | Q(id__gt=cursor.id)
    )


def decision_page_query(filters: Mapping[str, Any], cursor: Cursor | None) -> QuerySet[Decision]:
    """The rows past `cursor` in its direction (from the newest without one), in the
    order a page takes them: an index range scan from the cursor. Indexes that end in
    created_at alone leave ties to an incremental sort, which stops at the page's end."""
    queryset = decision_filtered(filters).only(*LIST_COLUMNS)
    if cursor is None:
        return queryset.order_by("-created_at", "-id")
    if cursor.direction == OLDER:
        return queryset.filter(_after(cursor)).order_by("-created_at", "-id")
    return queryset.filter(_after(cursor)).order_by("created_at", "id")


def decision_page(
    filters: Mapping[str, Any], cursor: Cursor | None = None, *, size: int = PAGE_SIZE
) -> DecisionPage:
    """One page of the filtered list, newest first: one query.

    It fetches one row more than it shows to know whether there is another page in its
    direction; coming from a cursor, there is a page back the other way."""
    rows = list(decision_page_query(filters, cursor)[: size + 1])
    more, rows = len(rows) > size, rows[:size]
    going_older = cursor is None or cursor.direction == OLDER
    if not going_older:
        rows.reverse()  # fetched oldest first, from the cursor up
    if not rows:
        return DecisionPage(rows=[], newer=None, older=None)
    came_back = cursor is not None
    has_older = more if going_older else came_back
    has_newer = came_back if going_older else more
    first, last = rows[0], rows[-1]
    return DecisionPage(
        rows=rows,
        newer=Cursor(NEWER, first.created_at, first.id).encode() if has_newer else None,
        older=Cursor(OLDER, last.created_at, last.id).encode() if has_older else None,
    )


def decision_export(filters: Mapping[str, Any]) -> Iterator[Decision]:
    """The whole filtered set, newest first, fetched EXPORT_CHUNK_SIZE rows at a time
    (a server-side cursor on PostgreSQL), so memory stays flat however large it is."""
    queryset = decision_filtered(filters).only(*EXPORT_COLUMNS).order_by("-created_at", "-id")
    return queryset.iterator(chunk_size=EXPORT_CHUNK_SIZE)


def decision_get(public_id: Any) -> Decision | None:
    """One decision with every column, or None."""
    try:
        return Decision.objects.get(public_id=public_id)
    except Decision.DoesNotExist:
        return None
