"""Pagination for the control-plane API.

Registry lists are small: limit/offset, with a total count. The audit tables (decisions,
the change log) grow to millions of rows, where an OFFSET or a COUNT(*) gets slower with
every page: they page by cursor over an index on (created_at, id), one query per page.
"""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, LimitOffsetPagination

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class RegistryPagination(LimitOffsetPagination):
    """`?limit=&offset=`, 50 by default, at most 500."""

    default_limit = DEFAULT_PAGE_SIZE
    max_limit = MAX_PAGE_SIZE


class AuditCursorPagination(CursorPagination):
    """Newest first, `?cursor=` from the `next` and `previous` links, `?limit=` up to 500.

    The cursor positions on created_at (indexed with id); rows that share a timestamp
    are told apart by an offset, and id makes the order total."""

    ordering = ("-created_at", "-id")
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE
