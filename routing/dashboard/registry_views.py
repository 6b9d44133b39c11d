"""The registry page (/registry): providers, models, agents and rules, one tab each.

Every role sees the lists; only admins are offered (and allowed) to edit, create and
delete. Writes go through routing.services.registry_writes (the API's path too): the
change log with the reason typed beside the change, and a configuration revision bump,
in one transaction. Rows are edited in place (see routing.dashboard.edit_rows).

A rule's condition is checked as it is typed: the form posts it to
`registry_condition_check`, which answers with the checker's verdict, the error's
position marked with a caret. Saving runs the same checker (the model's validator).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import Count, Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from agents.models import Agent
from routing.dashboard.access import ADMIN, VIEWER, role_required
from routing.dashboard.condition_report import condition_report
from routing.dashboard.edit_rows import (
    ReasonModelForm,
    delete_row,
    invalid_status,
    respond,
    save_form,
    swapping,
)
from routing.dashboard.registry_forms import (
    AgentForm,
    LLMModelForm,
    ProviderForm,
    RoutingRuleForm,
)
from routing.models import LLMModel, Provider, RoutingRule
from routing.roles import has_role
from routing.services.registry_writes import RegistryInUse

PAGE = "dashboard/registry.html"
PANEL = "dashboard/registry.html#panel"
ROW = "dashboard/registry.html#row"
EDIT_ROW = "dashboard/registry.html#edit-row"
CHECK = "dashboard/htmx/condition_check.html"

MSG_UNKNOWN_KIND = "No such registry list; pick providers, models, agents or rules."
MSG_NO_ROW = "No {noun} has this id; it may have been deleted."
MSG_CREATED = "{Noun} {name} created."
MSG_UPDATED = "{Noun} {name} saved."
MSG_DELETED = "{Noun} {name} deleted."


@dataclass(frozen=True)
class Kind:
    """One list of the registry page: its rows, form and wording."""

    slug: str
    title: str
    noun: str
    form: type[ReasonModelForm]
    rows: Callable[[], QuerySet[Any]]
    columns: int  # of its table, the actions column included


def _providers() -> QuerySet[Provider]:
    return Provider.objects.annotate(model_count=Count("models")).order_by("name")


def _models() -> QuerySet[LLMModel]:
    return LLMModel.objects.select_related("provider").order_by("key")


def _agents() -> QuerySet[Agent]:
    return Agent.objects.select_related(
        "primary_model", "fallback_model", "local_alternative", "budget_mode_model"
    ).order_by("key")


def _rules() -> QuerySet[RoutingRule]:
    # Global rules first, then each agent's in the order they are tried.
    return RoutingRule.objects.select_related("agent", "model").order_by(
        "-scope", "agent__key", "position"
    )


KINDS: Mapping[str, Kind] = {
    kind.slug: kind
    for kind in (
        Kind("providers", "Providers", "provider", ProviderForm, _providers, 8),
        Kind("models", "Models", "model", LLMModelForm, _models, 9),
        Kind("agents", "Agents", "agent", AgentForm, _agents, 8),
        Kind("rules", "Rules", "rule", RoutingRuleForm, _rules, 8),
    )
}
DEFAULT_KIND = "providers"


# -- access and lookups ------------------------------------------------------------------------


def _kind(slug: str) -> Kind:
    kind = KINDS.get(slug)
    if kind is None:
        raise Http404(MSG_UNKNOWN_KIND)
    return kind


def _row(kind: Kind, pk: int) -> Model:
    row = kind.rows().filter(pk=pk).first()
    if row is None:
        raise Http404(MSG_NO_ROW.format(noun=kind.noun))
    return row


def _form(kind: Kind, row: Model | None = None, data: Any = None) -> ReasonModelForm:
    # Distinct ids for every form on the page (the create form and an open row).
    auto_id = f"{kind.noun}_{row.pk if row is not None else 'new'}_%s"
    return kind.form(data, instance=row, auto_id=auto_id)


def _key_env_set(row: Any) -> bool | None:
    """Whether this server's environment holds the provider's key (never its value)."""
    return bool(os.environ.get(row.api_key_env)) if row.api_key_env else None


def _decorate(kind: Kind, rows: list[Any]) -> list[Any]:
    if kind.slug == "providers":
        for row in rows:
            row.key_env_set = _key_env_set(row)
    return rows


# -- rendering ---------------------------------------------------------------------------------


def _context(request: HttpRequest, kind: Kind, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "can_admin": has_role(request.user, ADMIN), **extra}


def _panel_context(
    request: HttpRequest,
    kind: Kind,
    *,
    create_form: ReasonModelForm | None = None,
    editing: ReasonModelForm | None = None,
) -> dict[str, Any]:
    context = _context(request, kind, editing=editing)
    context["kinds"] = list(KINDS.values())
    context["rows"] = _decorate(kind, list(kind.rows()))
    if context["can_admin"]:
        context["create_form"] = create_form or _form(kind)
    return context


def _panel(
    request: HttpRequest, context: Mapping[str, Any], status_code: int = 200
) -> HttpResponse:
    return respond(request, PANEL if swapping(request) else PAGE, context, status_code=status_code)


def _back(kind: Kind) -> HttpResponse:
    return redirect(f"{reverse('dashboard:registry')}?tab={kind.slug}")


def _edit_row(request: HttpRequest, kind: Kind, form: ReasonModelForm) -> HttpResponse:
    return respond(request, EDIT_ROW, _context(request, kind, form=form))


# -- the page, one row, one form ---------------------------------------------------------------


@require_GET
@role_required(VIEWER)
def registry(request: HttpRequest) -> HttpResponse:
    kind = _kind(request.GET.get("tab") or DEFAULT_KIND)
    return _panel(request, _panel_context(request, kind))


@require_GET
@role_required(VIEWER)
def registry_row(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """One row as shown (what "Cancel" swaps back in)."""
    listed = _kind(kind)
    if not swapping(request):
        return _back(listed)
    row = _decorate(listed, [_row(listed, pk)])[0]
    return respond(request, ROW, _context(request, listed, row=row))


@require_GET
@role_required(ADMIN)
def registry_edit(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """One row as a form: swapped in by htmx, or the page with that row open."""
    listed = _kind(kind)
    form = _form(listed, _row(listed, pk))
    if swapping(request):
        return _edit_row(request, listed, form)
    return respond(request, PAGE, _panel_context(request, listed, editing=form))


# -- writes ------------------------------------------------------------------------------------


@require_POST
@role_required(ADMIN)
def registry_update(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    listed = _kind(kind)
    form = _form(listed, _row(listed, pk), request.POST)
    if not form.is_valid():
        if swapping(request):
            return _edit_row(request, listed, form)
        context = _panel_context(request, listed, editing=form)
        return respond(request, PAGE, context, status_code=400)
    saved = save_form(request, form)
    if swapping(request):
        row = _decorate(listed, [_row(listed, saved.pk)])[0]
        return respond(request, ROW, _context(request, listed, row=row, saved=True))
    messages.success(request, MSG_UPDATED.format(Noun=listed.noun.capitalize(), name=saved))
    return _back(listed)


@require_POST
@role_required(ADMIN)
def registry_create(request: HttpRequest, kind: str) -> HttpResponse:
    listed = _kind(kind)
    form = _form(listed, data=request.POST)
    if not form.is_valid():
        context = _panel_context(request, listed, create_form=form)
        return _panel(request, context, invalid_status(request))
    saved = save_form(request, form)
    messages.success(request, MSG_CREATED.format(Noun=listed.noun.capitalize(), name=saved))
    return _panel(request, _panel_context(request, listed)) if swapping(request) else _back(listed)


@require_POST
@role_required(ADMIN)
def registry_delete(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    listed = _kind(kind)
    row = _row(listed, pk)
    name = str(row)
    try:
        delete_row(request, row)
    except RegistryInUse as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, MSG_DELETED.format(Noun=listed.noun.capitalize(), name=name))
    return _panel(request, _panel_context(request, listed)) if swapping(request) else _back(listed)


@require_POST
@role_required(ADMIN)
def registry_condition_check(request: HttpRequest) -> HttpResponse:
    """The checker's verdict on a condition being typed (always 200, so htmx swaps it)."""
    report = condition_report(request.POST.get("condition", ""))
    return respond(request, CHECK, {"report": report})
