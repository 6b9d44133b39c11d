"""Template context every page gets: force-local mode (for the banner) and the user's role.

Both are lazy, so a page that never shows them (the admin, an API error page) costs
nothing. Force-local comes from the cached configuration snapshot, the same one the
engine routes with: no query of its own once the snapshot is warm.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from routing.engine.inputs import ForceLocalInfo
from routing.roles import role_of
from routing.snapshot import current_snapshot


def _force_local_in_force() -> ForceLocalInfo | None:
    force = current_snapshot().force_local
    return force if force.in_force(timezone.now()) else None


def dashboard(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        # None (falsy) unless force-local mode is on right now.
        "force_local_banner": SimpleLazyObject(_force_local_in_force),
        "user_role": SimpleLazyObject(lambda: role_of(user) or ""),
    }
