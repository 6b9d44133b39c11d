"""Who may see a dashboard page: logged in (else the login page) and holding at least a
role (else 403). Every dashboard view is wrapped in `role_required(...)`; a view that
also offers or takes an action checks the stronger role with `require_role`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

from routing.roles import ADMIN, OPERATOR, VIEWER, has_role

__all__ = ["ADMIN", "MSG_NEEDS_ROLE", "OPERATOR", "VIEWER", "require_role", "role_required"]

MSG_NEEDS_ROLE = "This needs the {role} role; ask an admin to add you to the '{role}' group."

View = TypeVar("View", bound=Callable[..., HttpResponse])


def require_role(user: Any, role: str) -> None:
    """Raise PermissionDenied (403) unless `user` holds `role` or a stronger one."""
    if not has_role(user, role):
        raise PermissionDenied(MSG_NEEDS_ROLE.format(role=role))


def _to_login(request: HttpRequest) -> HttpResponse:
    if getattr(request, "htmx", False):
        # A redirect would be followed by htmx and the login page swapped into a panel:
        # send the whole browser there instead, back to the page it was on afterwards.
        current = request.htmx.current_url_abs_path or request.get_full_path()
        login = resolve_url(settings.LOGIN_URL)
        return HttpResponseClientRedirect(redirect_to_login(current, login)["Location"])
    return redirect_to_login(request.get_full_path())


def role_required(role: str = VIEWER) -> Callable[[View], View]:
    """Log in first (redirect), then hold `role` (403): the gate of every dashboard view."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return _to_login(request)
            require_role(request.user, role)
            return view(request, *args, **kwargs)

        return cast(View, wrapped)

    return decorator
