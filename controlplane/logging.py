"""Log records that say which request and which decision they belong to.

The route service binds the decision id as soon as a request is being decided and
unbinds it once its audit row is written; the middleware gives every HTTP request a
request id (the caller's `X-Request-ID` when it is a sane token, else a fresh one).
`LogContextFilter`, on the console handler, copies both onto every record, so a JSON
line from deep inside a provider call still names its decision.

Both live in context variables: each thread (and each asyncio task) sees its own. The
middleware starts every request afresh, so nothing carries over from the previous one.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter

_decision_id: ContextVar[str | None] = ContextVar("switchboard_decision_id", default=None)
_request_id: ContextVar[str | None] = ContextVar("switchboard_request_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is echoed into logs and a response header: only a short plain token.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def bind_decision(decision_id: uuid.UUID | str) -> None:
    _decision_id.set(str(decision_id))


def unbind_decision() -> None:
    _decision_id.set(None)


def current_decision_id() -> str | None:
    return _decision_id.get()


def current_request_id() -> str | None:
    return _request_id.get()


class LogContextFilter(logging.Filter):
    """Adds `decision_id` and `request_id` to a record when they are known; a value the
    caller passed in `extra` wins (a stream's last line is logged outside its request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("decision_id", _decision_id), ("request_id", _request_id)):
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


def json_formatter() -> JsonFormatter:
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and every
    `extra` field of the record."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


class RequestContextMiddleware:
    """Gives each request its id (echoed in the response's X-Request-ID) and forgets
    the decision of whatever request this thread served before."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        # Set, not reset afterwards: a streamed body is produced after this returns and
        # its log lines must still carry the id; the next request overwrites both.
        _request_id.set(request_id)
        _decision_id.set(None)
        response = self.get_response(request)
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)
        return response
