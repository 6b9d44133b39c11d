"""Permission classes for the control-plane API, by role (routing.roles).

Safe methods need the view's `read_role` (viewer by default); writes need its
`write_role`. API keys (services) get through only where a view names a `required_scope`
the key holds (route, status). A user without the role gets 403 and nothing is written.
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from routing.models import ApiKey
from routing.roles import ADMIN, VIEWER, has_role

MSG_ROLE = "This needs the '{role}' role."


class RolePermission(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            scope = getattr(view, "required_scope", None)
            allowed = (
                request.method in permissions.SAFE_METHODS
                and scope is not None
                and scope in request.auth.scopes
            )
            if not allowed:
                self.message = "API keys may route requests and read status only."
            return allowed
        role = (
            getattr(view, "read_role", VIEWER)
            if request.method in permissions.SAFE_METHODS
            else getattr(view, "write_role", ADMIN)
        )
        if has_role(request.user, role):
            return True
        self.message = MSG_ROLE.format(role=role)
        return False
