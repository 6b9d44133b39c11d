"""The audit log pages: the filtered decision list, one decision, its replay and the
CSV export of the filtered set.

Every view is gated by `role_required(VIEWER)` (routing.dashboard.access): anonymous
users go to the login page, users without a role get 403. A replay writes nothing, so a
viewer may run it, as in the API. Admins also see a decision's full prompt, when a
setting asked for it to be kept.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from routing.choices import DecisionOutcome
from routing.dashboard.access import VIEWER, role_required
from routing.models import Decision
from routing.roles import ADMIN, role_of
from routing.selectors.audit import (
    MSG_BAD_CURSOR,
    Cursor,
    DecisionFilters,
    DecisionPage,
    decision_export,
    decision_filters,
    decision_get,
    decision_page,
)
from routing.services.explain import decision_explain
from routing.services.simulate import (
    NotReplayable,
    decision_replay,
    stored_inputs,
    stored_rerun,
)

MSG_NO_DECISION = "No decision has this id."
MSG_NOT_REPLAYABLE = (
    "This decision keeps no inputs the engine can read (it was recorded before they were "
    "kept, or in an older format), so it cannot be re-run."
)
FILTER_FIELDS = ("agent", "model", "outcome", "strategy", "pii", "since", "until")
FORM_DATETIME = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> shows
FILENAME_DATETIME = "%Y%m%dT%H%M%SZ"
ATTEMPT_OUTCOMES = frozenset({"success", "rejected", "invalid"})
MIN_BAR_PERCENT = 0.5  # a 0 ms attempt (skipped before the call) still shows
CSV_COLUMNS = (
    "created_at",
    "decision_id",
    "agent",
    "api_key",
    "task_id",
    "session_id",
    "outcome",
    "error_code",
    "strategy",
    "model_used",
    "provider",
    "chain",
    "complexity",
    "task_type",
    "privacy_level",
    "pii_types",
    "local_only",
    "rule",
    "warning_level",
    "prompt_tokens",
    "completion_tokens",
    "usage_estimated",
    "cost_usd",
    "fallback_tax_usd",
    "latency_ms",
    "cached",
    "config_version",
)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# -- access ------------------------------------------------------------------------------------


def _decision(public_id: UUID) -> Decision:
    row = decision_get(public_id)
    if row is None:
        raise Http404(MSG_NO_DECISION)
    return row


def _partial(request: HtmxHttpRequest) -> bool:
    # A history restore (back button after the cache is gone) wants the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


# -- the list ----------------------------------------------------------------------------------


def _page(filters: DecisionFilters, token: str) -> tuple[DecisionPage | None, dict[str, Any]]:
    if not filters.valid:
        return None, filters.errors
    try:
        cursor = Cursor.decode(token) if token else None
    except ValueError:
        return None, {"cursor": [MSG_BAD_CURSOR]}
    return decision_page(filters.values, cursor), {}


def _form_values(params: Mapping[str, str], filters: DecisionFilters) -> dict[str, str]:
    """What the filter form shows: as typed, with valid times in UTC for datetime-local."""
    values = {name: params.get(name, "") for name in FILTER_FIELDS}
    for name in ("since", "until"):
        if name in filters.values:
            values[name] = filters.values[name].astimezone(UTC).strftime(FORM_DATETIME)
    return values


@require_GET
@role_required(VIEWER)
@vary_on_headers("HX-Request")
def audit_list(request: HtmxHttpRequest) -> HttpResponse:
    filters = decision_filters(request.GET)
    page, errors = _page(filters, request.GET.get("cursor", ""))
    context = {
        "page": page,
        "errors": errors,
        "form": _form_values(request.GET, filters),
        "filtered": bool(filters.values),
        "outcomes": DecisionOutcome.choices,
    }
    template = "dashboard/audit.html#results" if _partial(request) else "dashboard/audit.html"
    return render(request, template, context)


# -- the CSV export ----------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    # A text cell starting like a formula would be run by a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_row(d: Decision) -> list[Any]:
    row = [
        d.created_at.astimezone(UTC).isoformat(),
        d.public_id,
        d.agent_key,
        d.api_key_name,
        d.task_id,
        d.session_id,
        d.outcome,
        d.error_code,
        d.strategy,
        d.model_used,
        d.provider,
        " > ".join(d.chain or []),
        d.complexity,
        d.task_type,
        d.privacy_level,
        ";".join(d.pii_types or []),
        d.local_only,
        d.rule,
        d.warning_level,
        d.prompt_tokens,
        d.completion_tokens,
        d.usage_estimated,
        d.cost_usd,
        d.fallback_tax_usd,
        d.latency_ms,
        d.cached,
        d.config_version,
    ]
    return [_cell(value) for value in row]


def _csv_lines(rows: Iterable[Decision]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows:
        yield writer.writerow(_csv_row(row))


def _csv_filename(filters: Mapping[str, Any], now: datetime) -> str:
    since = filters.get("since")
    until = filters.get("until") or now
    start = since.astimezone(UTC).strftime(FILENAME_DATETIME) if since else "start"
    return f"decisions_{start}_{until.astimezone(UTC).strftime(FILENAME_DATETIME)}.csv"


@require_GET
@role_required(VIEWER)
def audit_csv(request: HttpRequest) -> HttpResponse:
    filters = decision_filters(request.GET)
    if not filters.valid:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in filters.errors.items())
        return HttpResponse(problems, status=400, content_type="text/plain; charset=utf-8")
    lines = _csv_lines(decision_export(filters.values))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = _csv_filename(filters.values, timezone.now())
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# -- one decision ------------------------------------------------------------------------------


def _timeline(attempts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One bar per attempt, in the order they ran (each starts when the last ended),
    its length its latency as a share of the whole."""
    latencies = [max(int(a.get("latency_ms") or 0), 0) for a in attempts]
    total = sum(latencies)
    bars, start = [], 0
    for n, (attempt, ms) in enumerate(zip(attempts, latencies, strict=True), start=1):
        outcome = str(attempt.get("outcome") or "")
        left = 100 * start / total if total else 0.0
        width = max(100 * ms / total if total else 0.0, MIN_BAR_PERCENT)
        bars.append(
            {
                "n": n,
                "model": attempt.get("model") or "?",
                "provider": attempt.get("provider") or "",
                "outcome": outcome or "unknown",
                "css": outcome if outcome in ATTEMPT_OUTCOMES else "other",
                "reason": attempt.get("reason") or "",
                "latency_ms": ms,
                "left": f"{min(left, 100 - MIN_BAR_PERCENT):.2f}",
                "width": f"{min(width, 100.0):.2f}",
            }
        )
        start += ms
    return bars


def _detail_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _steps(trace: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "step": step.get("step", ""),
            "outcome": step.get("outcome", ""),
            "detail": [(k, _detail_text(v)) for k, v in (step.get("detail") or {}).items()],
        }
        for step in trace.get("steps") or []
    ]


def _decision_context(request: HttpRequest, row: Decision) -> dict[str, Any]:
    # The role once more, for the full prompt; handed to _base.html as user_role too, so
    # the context processor does not ask the database a third time.
    role = role_of(request.user)
    # One more query when the row is replayable: its configuration version's snapshot,
    # which gives the chain's factor scores in the explanation (as the API's explain).
    explained = decision_explain(row, replayed=stored_rerun(row))
    trace = row.trace if isinstance(row.trace, Mapping) else {}
    timeline = _timeline(row.attempts or [])
    return {
        "decision": row,
        "timeline": timeline,
        "timeline_ms": sum(bar["latency_ms"] for bar in timeline),
        "steps": _steps(trace),
        "eliminated": trace.get("eliminated") or [],
        "sentences": explained["sentences"],
        "factors_source": explained["factors_source"],
        "replayable": stored_inputs(row) is not None,
        "show_full_prompt": role == ADMIN and row.prompt_full is not None,
        "user_role": role or "",
    }


@require_GET
@role_required(VIEWER)
def decision_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    row = _decision(public_id)
    return render(request, "dashboard/decision.html", _decision_context(request, row))


def _replay(row: Decision) -> dict[str, Any]:
    try:
        return {"replay": decision_replay(row, now=timezone.now()), "replay_error": ""}
    except NotReplayable:
        return {"replay": None, "replay_error": MSG_NOT_REPLAYABLE}


@require_POST
@role_required(VIEWER)
@vary_on_headers("HX-Request")
def decision_replay_run(request: HtmxHttpRequest, public_id: UUID) -> HttpResponse:
    """Re-run the decision on its own and on the current configuration (the API's
    replay service). With htmx, only the result; without, the page with the result."""
    row = _decision(public_id)
    if _partial(request):
        return render(request, "dashboard/decision.html#replay", {"decision": row, **_replay(row)})
    context = {**_decision_context(request, row), **_replay(row)}
    return render(request, "dashboard/decision.html", context)
