"""Roles, as Django groups: who may do what in the control plane.

- viewer: reads everything (status, registry, decisions, change log);
- operator: a viewer who may also set and end strategy, agent-model and task overrides;
- admin: an operator who may also change budgets, force-local mode, the registry,
  agents, rules, strategies and API keys. Superusers are admins.
- services (API keys) route requests and read status, nothing else.

A role is a group name; the groups are created by a data migration. Roles nest: an
admin is also an operator and a viewer.
"""

from __future__ import annotations

from typing import Any

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)
_RANK = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}


def role_of(user: Any) -> str | None:
    """The highest role a user holds, or None (not logged in, or in no role group)."""
    if (
        user is None
        or not getattr(user, "is_authenticated", False)
        or not getattr(user, "is_active", True)
    ):
        return None
    if getattr(user, "is_superuser", False):
        return ADMIN
    if not hasattr(user, "groups"):
        return None
    names = set(user.groups.values_list("name", flat=True)) if user.pk else set()
    held = [role for role in ROLES if role in names]
    return max(held, key=_RANK.__getitem__) if held else None


def has_role(user: Any, role: str) -> bool:
    held = role_of(user)
    return held is not None and _RANK[held] >= _RANK[role]
