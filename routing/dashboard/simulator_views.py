"""The Simulator (/simulator): decide a request without calling a model, and re-decide a
time range of stored traffic under another strategy (what-if).

Both panels run the API's own services, not a copy of their logic:
- "Decide" is `POST /api/route` with `dry_run`: routing.services.route.prepare decides
  on the current configuration and, like every request, leaves exactly one audit row
  (a dry run, or the refusal), named after the dashboard user who asked
  ("dashboard:<username>" in its API-key column). It is recorded rather than decided
  in memory because that row is what the page explains with the audit page's own
  pieces, and what the audit log's replay can re-run later. Nothing is executed: no
  model is called and nothing is spent.
- "What-if" is `POST /api/simulate`: routing.services.simulate.traffic_simulate, which
  writes nothing.

Who may run them follows the API: a dry run writes an audit row and a what-if
re-decides up to 100,000 stored requests, so both need an operator (as /api/simulate
does). Viewers may open the page, which tells them so and offers no form.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from routing.api import errors
from routing.dashboard.access import OPERATOR, VIEWER, role_required
from routing.dashboard.audit_views import _steps as trace_steps  # the audit page's own
from routing.dashboard.simulator_forms import DecideForm, WhatIfForm
from routing.engine import Decision as EngineDecision
from routing.engine.features import TASK_TYPES
from routing.models import Decision
from routing.roles import has_role
from routing.selectors.audit import decision_get
from routing.services.explain import decision_explain
from routing.services.route import decision_summary, prepare, record_dry_run
from routing.services.simulate import Draft, DraftError, traffic_simulate
from routing.simulator_charts import what_if_figure, what_if_totals
from routing.snapshot import current_snapshot

PAGE = "dashboard/simulator.html"
DECIDE_PANEL = f"{PAGE}#decide-panel"
WHAT_IF_PANEL = f"{PAGE}#what-if-panel"
CALLER = "dashboard:{username}"
WHAT_IF_FIGURE = "what-if-figure"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _decide_form(data: Any = None) -> DecideForm:
    return DecideForm(data, agents=sorted(current_snapshot().agents), auto_id="decide_%s")


def _what_if_form(data: Any = None) -> WhatIfForm:
    snapshot = current_snapshot()
    strategies = sorted(snapshot.strategies)
    initial = {"strategy": snapshot.default_strategy}
    return WhatIfForm(
        data, strategies=strategies, now=timezone.now(), initial=initial, auto_id="what_if_%s"
    )


def _respond(
    request: HtmxHttpRequest,
    partial: str,
    context: Mapping[str, Any],
    *,
    status_code: int,
) -> HttpResponse:
    """The panel alone for htmx (always 200, which htmx swaps, errors included); without
    JavaScript the whole page, with the status the outcome deserves. A history restore
    wants the whole page. The answer differs by HX-Request, so Vary says so."""
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, partial, context)
    else:
        page = {"can_run": True, "task_types": TASK_TYPES}
        page["decide_form"] = context.get("decide_form") or _decide_form()
        page["what_if_form"] = context.get("what_if_form") or _what_if_form()
        response = render(request, PAGE, {**page, **context}, status=status_code)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
@role_required(VIEWER)
def simulator(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"can_run": has_role(request.user, OPERATOR)}
    if context["can_run"]:
        context |= {
            "decide_form": _decide_form(),
            "what_if_form": _what_if_form(),
            "task_types": TASK_TYPES,
        }
    return render(request, PAGE, context)


# -- decide (a dry run) -----------------------------------------------------------------------


def _explained(row: Decision, decided: EngineDecision | None) -> dict[str, Any]:
    """What the audit page's explanation and trace partials read, for this row. The chain's
    scores come from the decision just made (`decided`), so nothing is re-run."""
    explained = decision_explain(row, replayed=decided)
    trace = row.trace if isinstance(row.trace, Mapping) else {}
    return {
        "decision": row,
        "sentences": explained["sentences"],
        "factors_source": "",  # the sentences give this dry run's own scores
        "chain": explained["chain"],
        "steps": trace_steps(trace),
        "eliminated": trace.get("eliminated") or [],
    }


def _decide(request: HttpRequest, body: Mapping[str, Any]) -> dict[str, Any]:
    caller = CALLER.format(username=request.user.get_username())
    try:
        prepared = prepare(body, api_key=None, caller=caller)
    except errors.ApiError as exc:
        # A refusal (unknown agent, no eligible model, budget exceeded, denied by a rule)
        # is recorded before it is raised: show the API's answer and that row's trace.
        # The page itself did its job, so it answers 200 and names the API's status.
        refusal = {
            "status": exc.status_code,
            "code": exc.error_code,
            "message": exc.message,
            "details": exc.details,
        }
        row = decision_get(uuid.UUID(exc.decision_id)) if exc.decision_id else None
        return {"refusal": refusal, **(_explained(row, None) if row is not None else {})}
    row = record_dry_run(prepared)
    summary = decision_summary(prepared.decision)
    return {"dry_run": summary, **_explained(row, prepared.decision)}


@require_POST
@role_required(OPERATOR)
def simulator_decide(request: HtmxHttpRequest) -> HttpResponse:
    form = _decide_form(request.POST)
    context: dict[str, Any] = {"decide_form": form, "task_types": TASK_TYPES}
    if form.is_valid():
        context |= _decide(request, form.cleaned_data["body"])
    status_code = 200 if form.is_valid() else 400
    return _respond(request, DECIDE_PANEL, context, status_code=status_code)


# -- what-if --------------------------------------------------------------------------------


def _add_errors(form: forms.Form, fields: Mapping[str, Any]) -> None:
    for name, messages in fields.items():
        text = messages if isinstance(messages, list) else [str(messages)]
        form.add_error(name if name in form.fields else None, text)


@require_POST
@role_required(OPERATOR)
def simulator_what_if(request: HtmxHttpRequest) -> HttpResponse:
    form = _what_if_form(request.POST)
    context: dict[str, Any] = {"what_if_form": form}
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = traffic_simulate(
                draft=Draft(strategy=data["strategy"]),
                since=data["since"],
                until=data["until"],
                limit=data["limit"],
                now=form.now,
            )
        except DraftError as exc:
            _add_errors(form, exc.fields)
        else:
            types = {key: m.type for key, m in current_snapshot().models.items()}
            totals = what_if_totals(result, types)
            context |= {
                "what_if": result,
                "since": data["since"],
                "until": data["until"],
                "totals": totals,
                "figure": what_if_figure(totals, types),
                "figure_id": WHAT_IF_FIGURE,
                "figure_data_id": f"{WHAT_IF_FIGURE}-data",
            }
    status_code = 200 if "what_if" in context else 400
    return _respond(request, WHAT_IF_PANEL, context, status_code=status_code)
