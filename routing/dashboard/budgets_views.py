"""The Budgets page (/budgets): admins set global, agent, provider and model budgets,
per-request caps and warning thresholds, with the current spend beside each limit.

Admins only: anyone else gets the 403 page, also for the row and form fragments.
Writes go through routing.services.registry_writes (the API's path too), which records
the change log with the reason typed beside the change and bumps the configuration
revision. Rows are edited in place (see routing.dashboard.edit_rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from routing.dashboard.access import ADMIN, role_required
from routing.dashboard.budgets_forms import BudgetForm, target_label
from routing.dashboard.edit_rows import delete_row, invalid_status, respond, save_form, swapping
from routing.models import Budget
from routing.selectors.budget_rows import budget_list, budget_rows

PAGE = "dashboard/budgets.html"
PANEL = "dashboard/budgets.html#panel"
ROW = "dashboard/budgets.html#row"
EDIT_ROW = "dashboard/budgets.html#edit-row"

MSG_CREATED = "Budget for {target} per {period} created."
MSG_UPDATED = "Budget for {target} per {period} saved."
MSG_DELETED = "Budget for {target} per {period} deleted."


def _budget(pk: int) -> Budget:
    return get_object_or_404(Budget.objects.select_related("agent", "provider", "model"), pk=pk)


def _label(budget: Budget) -> str:
    return target_label(budget.scope, budget.target_key)


def _form(budget: Budget | None = None, data: Any = None) -> BudgetForm:
    auto_id = f"budget_{budget.pk}_%s" if budget is not None else "budget_new_%s"
    return BudgetForm(data, instance=budget, auto_id=auto_id)


def _panel_context(
    *, create_form: BudgetForm | None = None, editing: BudgetForm | None = None
) -> dict[str, Any]:
    return {
        "rows": budget_rows(timezone.now(), budget_list()),
        "create_form": create_form or _form(),
        "editing": editing,
    }


def _row_context(budget: Budget) -> dict[str, Any]:
    return {"row": budget_rows(timezone.now(), [budget])[0]}


def _panel(
    request: HttpRequest, context: Mapping[str, Any], status_code: int = 200
) -> HttpResponse:
    template = PANEL if swapping(request) else PAGE
    return respond(request, template, context, status_code=status_code)


@require_GET
@role_required(ADMIN)
def budgets(request: HttpRequest) -> HttpResponse:
    return _panel(request, _panel_context())


@require_GET
@role_required(ADMIN)
def budget_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One row as shown (what "Cancel" swaps back in)."""
    if not swapping(request):
        return redirect("dashboard:budgets")
    return respond(request, ROW, _row_context(_budget(pk)))


@require_GET
@role_required(ADMIN)
def budget_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """One row as a form: swapped in by htmx, or the page with that row open."""
    form = _form(_budget(pk))
    if swapping(request):
        return respond(request, EDIT_ROW, {"form": form})
    return respond(request, PAGE, _panel_context(editing=form))


@require_POST
@role_required(ADMIN)
def budget_update(request: HttpRequest, pk: int) -> HttpResponse:
    form = _form(_budget(pk), request.POST)
    if not form.is_valid():
        if swapping(request):
            return respond(request, EDIT_ROW, {"form": form})
        return respond(request, PAGE, _panel_context(editing=form), status_code=400)
    budget = save_form(request, form)
    if swapping(request):
        return respond(request, ROW, {**_row_context(budget), "saved": True})
    messages.success(request, MSG_UPDATED.format(target=_label(budget), period=budget.period))
    return redirect("dashboard:budgets")


@require_POST
@role_required(ADMIN)
def budget_create(request: HttpRequest) -> HttpResponse:
    form = _form(data=request.POST)
    if not form.is_valid():
        return _panel(request, _panel_context(create_form=form), invalid_status(request))
    budget = save_form(request, form)
    messages.success(request, MSG_CREATED.format(target=_label(budget), period=budget.period))
    return _panel(request, _panel_context()) if swapping(request) else redirect("dashboard:budgets")


@require_POST
@role_required(ADMIN)
def budget_delete(request: HttpRequest, pk: int) -> HttpResponse:
    budget = _budget(pk)
    label, period = _label(budget), budget.period
    delete_row(request, budget)  # no row points at a budget: never refused as in use
    messages.success(request, MSG_DELETED.format(target=label, period=period))
    return _panel(request, _panel_context()) if swapping(request) else redirect("dashboard:budgets")
