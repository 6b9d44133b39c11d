"""Routing control (/control) and the change log (/changes).

Every change goes through routing.services.overrides with source "dashboard"; this
module only parses forms, calls one service and renders. Forms post with htmx and swap
the panel; without JavaScript they post normally and are redirected back (POST,
redirect, GET). Viewers see the state only; operators get the override forms; admins
also get force-local mode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from routing.choices import ChangeSource
from routing.dashboard.access import ADMIN, OPERATOR, VIEWER, role_required
from routing.dashboard.control_forms import (
    AgentModelEndForm,
    AgentModelForm,
    ChangeLogFilterForm,
    Choices,
    ForceLocalForm,
    StrategyEndForm,
    StrategySwitchForm,
    TaskEndForm,
    TaskOverrideForm,
    make_cursor,
)
from routing.models import ChangeLogEntry
from routing.roles import has_role
from routing.selectors import status
from routing.services import overrides
from routing.services.durations import format_duration
from routing.snapshot import current_snapshot, forget_snapshot

PAGE = "dashboard/control.html"
PANEL = "dashboard/control.html#panel"
CHANGES = "dashboard/change_log.html"
CHANGES_RESULTS = "dashboard/change_log.html#results"
CHANGES_PAGE_SIZE = 50
SOURCE = ChangeSource.DASHBOARD

MSG_STRATEGY_SET = "Strategy '{strategy}' is in force for {target} for {duration}."
MSG_STRATEGY_ENDED = "The strategy override for {target} has ended."
MSG_AGENT_MODEL_SET = "Agent '{agent}' is pinned to '{model}' for {duration}."
MSG_AGENT_MODEL_ENDED = "Agent '{agent}' is no longer pinned to a model."
MSG_TASK_SET = "Task '{task_id}' is forced onto '{model}' for {duration}."
MSG_TASK_ENDED = "Task '{task_id}' is no longer forced onto a model."
MSG_FORCE_LOCAL_ON = "Force-local mode is on: every request goes to a local model."
MSG_FORCE_LOCAL_OFF = "Force-local mode is off."
MSG_NOTHING_TO_END = "Nothing to end: no override was in force for {target}."
DEFAULT_END_REASON = "Ended early from the dashboard."
ALL_REQUESTS = "all requests"

# A service's refusal belongs next to the field it is about.
_SERVICE_ERROR_FIELDS = {
    overrides.MSG_NO_REASON: "reason",
    overrides.MSG_BAD_DURATION: "duration",
    overrides.MSG_DURATION_WHEN_OFF: "duration",
}


def _respond(
    request: HttpRequest,
    page: str,
    partial: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> HttpResponse:
    """The whole page, or only `partial` for htmx; the answer differs, so Vary says so.
    A history restore (back button after the cache is gone) needs the whole page."""
    swap = request.htmx and not request.htmx.history_restore_request
    response = render(request, partial if swap else page, context, status=status_code)
    patch_vary_headers(response, ("HX-Request",))
    return response


# -- routing control -------------------------------------------------------------------------


def _countdown(item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A state dict with an ISO `expires_at` (as the status selector gives it), plus
    what the page shows before its script runs: the expiry and the time left."""
    expires = parse_datetime(item["expires_at"]) if item.get("expires_at") else None
    left = None
    if expires is not None:
        # Rounded up, as the page's script counts: "0s" only once it has ended.
        left = format_duration(
            timedelta(seconds=max(0, math.ceil((expires - now).total_seconds())))
        )
    return {**item, "expires": expires, "left": left}


def _control_context(request: HttpRequest, bound: Mapping[str, forms.Form]) -> dict[str, Any]:
    now = timezone.now()
    state = status(now)
    can_operate = has_role(request.user, OPERATOR)
    can_admin = can_operate and has_role(request.user, ADMIN)
    context: dict[str, Any] = {
        "now": now,
        "strategy": _countdown(state["strategy"]["active"], now),
        "reverts_to": state["strategy"]["environment_strategy"]
        or state["strategy"]["default_strategy"],
        "strategy_overrides": [_countdown(o, now) for o in state["overrides"]["strategy"]],
        "agent_model_overrides": [_countdown(o, now) for o in state["overrides"]["agent_model"]],
        "task_overrides": [_countdown(o, now) for o in state["overrides"]["task"]],
        "force_local": _countdown(state["force_local"], now),
        "can_operate": can_operate,
        "can_admin": can_admin,
    }
    if can_operate:
        choices = Choices.from_snapshot(current_snapshot())
        context["strategy_form"] = bound.get("strategy_form") or StrategySwitchForm(
            choices=choices, auto_id="strategy_%s"
        )
        context["agent_model_form"] = bound.get("agent_model_form") or AgentModelForm(
            choices=choices, auto_id="agent_model_%s"
        )
        context["task_form"] = bound.get("task_form") or TaskOverrideForm(
            choices=choices, auto_id="task_%s"
        )
    if can_admin:
        context["force_local_form"] = bound.get("force_local_form") or ForceLocalForm(
            initial={"enabled": "off" if state["force_local"]["enabled"] else "on"},
            auto_id="force_local_%s",
        )
    return context


def _control(
    request: HttpRequest, bound: Mapping[str, forms.Form] | None = None, *, status_code: int = 200
) -> HttpResponse:
    return _respond(
        request, PAGE, PANEL, _control_context(request, bound or {}), status_code=status_code
    )


def _act(
    request: HttpRequest,
    name: str,
    form: forms.Form,
    action: Callable[[dict[str, Any]], tuple[int, str]],
    *,
    shown: bool = True,
) -> HttpResponse:
    """Validate `form`, run `action` (one service call; it returns a message level and
    text), then show the panel again: swapped by htmx, or by a redirect without JS.
    Refusals are shown next to their field: in the swapped panel (200, which htmx
    swaps), or on the page itself (400). An "End now" button's form is not `shown`
    (its fields are hidden), so its refusals become a message at the top instead."""
    if form.is_valid():
        try:
            level, text = action(form.cleaned_data)
        except ValueError as exc:
            field = _SERVICE_ERROR_FIELDS.get(str(exc))
            form.add_error(field if field in form.fields else None, str(exc))
        else:
            forget_snapshot()  # show this change even before its transaction commits
            messages.add_message(request, level, text)
            return _control(request) if request.htmx else redirect("dashboard:control")
    if not shown:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    bound = {name: form} if shown else {}
    return _control(request, bound, status_code=200 if request.htmx else 400)


def _target(agent: Any) -> str:
    return f"agent '{agent.key}'" if agent is not None else ALL_REQUESTS


def _ended(ended: Any, text: str, target: str) -> tuple[int, str]:
    if ended is None:
        return messages.WARNING, MSG_NOTHING_TO_END.format(target=target)
    return messages.SUCCESS, text


@require_GET
@role_required(VIEWER)
def control(request: HttpRequest) -> HttpResponse:
    return _control(request)


@require_POST
@role_required(OPERATOR)
def strategy_switch(request: HttpRequest) -> HttpResponse:
    form = StrategySwitchForm(
        request.POST, choices=Choices.from_snapshot(current_snapshot()), auto_id="strategy_%s"
    )

    def action(data: dict[str, Any]) -> tuple[int, str]:
        overrides.strategy_override_set(
            strategy=data["strategy"],
            agent=data["agent"],
            duration=data["length"],
            reason=data["reason"],
            actor=request.user,
            source=SOURCE,
        )
        return messages.SUCCESS, MSG_STRATEGY_SET.format(
            strategy=data["strategy"].key,
            target=_target(data["agent"]),
            duration=format_duration(data["length"]),
        )

    return _act(request, "strategy_form", form, action)


@require_POST
@role_required(OPERATOR)
def strategy_end(request: HttpRequest) -> HttpResponse:
    def action(data: dict[str, Any]) -> tuple[int, str]:
        ended = overrides.strategy_override_end(
            agent=data["agent"],
            reason=data["reason"] or DEFAULT_END_REASON,
            actor=request.user,
            source=SOURCE,
        )
        target = _target(data["agent"])
        return _ended(ended, MSG_STRATEGY_ENDED.format(target=target), target)

    return _act(request, "strategy_end_form", StrategyEndForm(request.POST), action, shown=False)


@require_POST
@role_required(OPERATOR)
def agent_model_set(request: HttpRequest) -> HttpResponse:
    form = AgentModelForm(
        request.POST, choices=Choices.from_snapshot(current_snapshot()), auto_id="agent_model_%s"
    )

    def action(data: dict[str, Any]) -> tuple[int, str]:
        overrides.agent_model_override_set(
            agent=data["agent"],
            model=data["model"],
            duration=data["length"],
            reason=data["reason"],
            actor=request.user,
            source=SOURCE,
        )
        return messages.SUCCESS, MSG_AGENT_MODEL_SET.format(
            agent=data["agent"].key,
            model=data["model"].key,
            duration=format_duration(data["length"]),
        )

    return _act(request, "agent_model_form", form, action)


@require_POST
@role_required(OPERATOR)
def agent_model_end(request: HttpRequest) -> HttpResponse:
    def action(data: dict[str, Any]) -> tuple[int, str]:
        ended = overrides.agent_model_override_end(
            agent=data["agent"],
            reason=data["reason"] or DEFAULT_END_REASON,
            actor=request.user,
            source=SOURCE,
        )
        text = MSG_AGENT_MODEL_ENDED.format(agent=data["agent"].key)
        return _ended(ended, text, _target(data["agent"]))

    return _act(
        request, "agent_model_end_form", AgentModelEndForm(request.POST), action, shown=False
    )


@require_POST
@role_required(OPERATOR)
def task_override_set(request: HttpRequest) -> HttpResponse:
    form = TaskOverrideForm(
        request.POST, choices=Choices.from_snapshot(current_snapshot()), auto_id="task_%s"
    )

    def action(data: dict[str, Any]) -> tuple[int, str]:
        overrides.task_override_set(
            task_id=data["task_id"],
            model=data["model"],
            duration=data["length"],
            reason=data["reason"],
            actor=request.user,
            source=SOURCE,
        )
        return messages.SUCCESS, MSG_TASK_SET.format(
            task_id=data["task_id"],
            model=data["model"].key,
            duration=format_duration(data["length"]),
        )

    return _act(request, "task_form", form, action)


@require_POST
@role_required(OPERATOR)
def task_override_end(request: HttpRequest) -> HttpResponse:
    def action(data: dict[str, Any]) -> tuple[int, str]:
        ended = overrides.task_override_end(
            task_id=data["task_id"],
            reason=data["reason"] or DEFAULT_END_REASON,
            actor=request.user,
            source=SOURCE,
        )
        text = MSG_TASK_ENDED.format(task_id=data["task_id"])
        return _ended(ended, text, f"task '{data['task_id']}'")

    return _act(request, "task_end_form", TaskEndForm(request.POST), action, shown=False)


@require_POST
@role_required(ADMIN)
def force_local_toggle(request: HttpRequest) -> HttpResponse:
    def action(data: dict[str, Any]) -> tuple[int, str]:
        overrides.force_local_set(
            enabled=data["enabled"],
            duration=data["duration"],
            reason=data["reason"],
            actor=request.user,
            source=SOURCE,
        )
        return messages.SUCCESS, MSG_FORCE_LOCAL_ON if data["enabled"] else MSG_FORCE_LOCAL_OFF

    form = ForceLocalForm(request.POST, auto_id="force_local_%s")
    return _act(request, "force_local_form", form, action)


# -- change log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    key: str
    before: str | None  # None: the key was not there before
    after: str | None  # None: the key is gone


def _compact(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_diff(before: Any, after: Any) -> list[DiffLine]:
    """The keys whose values differ between two change-log snapshots (a created target
    lists what it has, a removed one what it had, empty fields left out). A value that
    is not a dict counts as one key, "value"."""
    old = before if isinstance(before, dict) else ({} if before is None else {"value": before})
    new = after if isinstance(after, dict) else ({} if after is None else {"value": after})
    lines = []
    for key in dict.fromkeys([*old, *new]):
        if key in old and key in new and old[key] == new[key]:
            continue
        if (old if key in old else new)[key] is None and (key not in old or key not in new):
            continue  # an empty field of a created or removed target says nothing
        lines.append(
            DiffLine(
                key=key,
                before=_compact(old[key]) if key in old else None,
                after=_compact(new[key]) if key in new else None,
            )
        )
    return lines


def _change_log_page(filters: Mapping[str, Any]) -> tuple[list[ChangeLogEntry], bool]:
    """Newest first, filtered, after the cursor (created_at, id): one query on the
    (-created_at, -id) index, one row more than a page to know whether there is more."""
    rows = ChangeLogEntry.objects.order_by("-created_at", "-id")
    if filters.get("target_type"):
        rows = rows.filter(target_type=filters["target_type"])
    if filters.get("actor"):
        rows = rows.filter(actor_label=filters["actor"])
    if filters.get("source"):
        rows = rows.filter(source=filters["source"])
    if filters.get("before"):
        at, pk = filters["before"]
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=pk))
    page = list(rows[: CHANGES_PAGE_SIZE + 1])
    return page[:CHANGES_PAGE_SIZE], len(page) > CHANGES_PAGE_SIZE


def _link(request: HttpRequest, **changes: str | None) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value:
            query[key] = value
    return f"{request.path}?{query.urlencode()}" if query else request.path


@require_GET
@role_required(VIEWER)
def change_log(request: HttpRequest) -> HttpResponse:
    target_types = (
        ChangeLogEntry.objects.order_by("target_type")
        .values_list("target_type", flat=True)
        .distinct()
    )
    form = ChangeLogFilterForm(request.GET, target_types=target_types)
    form.is_valid()  # a malformed field is shown and ignored; the others still filter
    entries, more = _change_log_page(form.cleaned_data)
    for entry in entries:
        entry.diff = change_diff(entry.before, entry.after)  # type: ignore[attr-defined]
    last = entries[-1] if entries else None
    context = {
        "form": form,
        "entries": entries,
        "older_url": _link(request, before=make_cursor(last.created_at, last.pk))
        if more and last
        else None,
        "newest_url": _link(request, before=None) if form.cleaned_data.get("before") else None,
    }
    return _respond(request, CHANGES, CHANGES_RESULTS, context)
