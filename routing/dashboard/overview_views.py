"""The overview page: the strategy in force, then spend, budgets, fallbacks, privacy,
strategies, latency and the fallback tax over the last 7 or 30 days, and each enabled
model's health (last probe, cooldown), polled by htmx every 30 seconds.

The first paint and every refresh share one source: the `charts` partial of
dashboard/overview.html, rendered alone when htmx asks for it.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from routing.charts import overview_panels, pii_to_cloud_panel
from routing.roles import VIEWER, has_role
from routing.selectors.model_health import model_health_rows
from routing.selectors.overview import DEFAULT_WINDOW_DAYS, WINDOW_DAYS, overview
from routing.selectors.strategy_in_force import strategy_in_force
from routing.snapshot import current_snapshot, load_runtime_state

TEMPLATE = "dashboard/overview.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _require_viewer(request: HttpRequest) -> None:
    if not has_role(request.user, VIEWER):
        raise PermissionDenied


class WindowForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=[(d, f"{d} days") for d in WINDOW_DAYS],
        coerce=int,
        required=False,
        empty_value=DEFAULT_WINDOW_DAYS,
    )


@require_GET
@login_required
def overview_page(request: HtmxHttpRequest) -> HttpResponse:
    _require_viewer(request)
    form = WindowForm(request.GET)
    days = form.cleaned_data["days"] if form.is_valid() else DEFAULT_WINDOW_DAYS
    now = timezone.now()
    # One snapshot and one runtime-state read (spend, cooldowns) for the whole page.
    snapshot = current_snapshot()
    state = load_runtime_state(snapshot=snapshot, session_id=None, now=now)
    data = overview(days, now, state=state)
    context = {
        "overview": data,
        "now": now,  # the countdown corrects the browser's clock by it
        "strategy": strategy_in_force(now, snapshot),
        "model_health": model_health_rows(now, snapshot=snapshot, state=state),
        "window_days": WINDOW_DAYS,
        "headline": pii_to_cloud_panel(data),
        "panels": overview_panels(data),
    }
    # A history restore asks for the whole page, even though it comes from htmx.
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, f"{TEMPLATE}#charts" if partial else TEMPLATE, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
