"""What the budgets and registry pages share: tables whose rows are edited in place.

A row's "Edit" asks for the row as a form (htmx swaps it in), "Save" posts it and gets
the row back, "Cancel" gets the row back unchanged; creating and deleting answer with
the whole panel. Without JavaScript the same URLs work as plain links and forms (POST,
redirect, GET). Every write goes through routing.services.registry_writes with source
"dashboard" and the reason typed beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from routing.choices import ChangeSource
from routing.services.registry_writes import registry_delete, registry_save
from routing.snapshot import forget_snapshot

REASON_MAX = 2000
REASON_PLACEHOLDER = "Why (kept in the change log)"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class MoneyField(forms.DecimalField):
    """Dollars as a person writes them: a stored 10.00000000 shows as 10."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal) and value.is_finite():
            return format(value.normalize(), "f")
        return value


class ReasonModelForm(forms.ModelForm):
    """A ModelForm (so the model's own full_clean validates it) with the reason for the
    change log beside its fields. The reason is optional, as in the API."""

    reason = forms.CharField(
        max_length=REASON_MAX,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": REASON_PLACEHOLDER}),
    )


def swapping(request: HttpRequest) -> bool:
    """htmx asks for a fragment. A history restore (the back button after htmx's cache
    is gone) wants the whole page, though it comes from htmx."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def respond(
    request: HttpRequest,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
) -> HttpResponse:
    """Render `template`; the answer depends on HX-Request, so Vary says so."""
    response = render(request, template, context, status=status_code)
    patch_vary_headers(response, ("HX-Request",))
    return response


def invalid_status(request: HttpRequest) -> int:
    # htmx swaps only 2xx answers: a form with its errors comes back as 200 to it, and
    # as 400 to a browser without JavaScript.
    return 200 if swapping(request) else 400


def delete_reason(request: HttpRequest) -> str:
    """The reason given for a delete: typed into htmx's prompt (HX-Prompt), or a
    "reason" field of a form posted without JavaScript."""
    htmx = getattr(request, "htmx", None)
    typed = (htmx.prompt if htmx else None) or request.POST.get("reason", "")
    return typed.strip()[:REASON_MAX]


def write_context(request: HttpRequest, reason: str) -> dict[str, Any]:
    """The keyword arguments of a registry write from the dashboard."""
    return {"actor": request.user, "source": ChangeSource.DASHBOARD, "reason": reason.strip()}


def save_form(request: HttpRequest, form: ReasonModelForm) -> Any:
    """Write a valid form's row, with the reason typed beside it. This process forgets
    its configuration snapshot at once, so the answer (and routing) show the change
    even before the commit's own hook runs."""
    row = registry_save(
        form.save(commit=False), **write_context(request, form.cleaned_data["reason"])
    )
    forget_snapshot()
    return row


def delete_row(request: HttpRequest, row: models.Model) -> None:
    """Delete `row` with the reason given (RegistryInUse when other rows use it)."""
    registry_delete(row, **write_context(request, delete_reason(request)))
    forget_snapshot()
