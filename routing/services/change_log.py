"""The change log: who changed which control setting, before and after, and why."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.forms.models import model_to_dict

from routing.choices import ChangeSource
from routing.models import ChangeLogEntry


def snapshot_of(instance: models.Model | None) -> dict[str, Any] | None:
    """A JSON-safe picture of a row for the change log's before/after columns."""
    if instance is None:
        return None
    data = model_to_dict(instance)
    data["id"] = instance.pk
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def change_log_record(
    *,
    action: str,
    target_type: str,
    target_key: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    source: ChangeSource,
    actor: Any = None,
    actor_label: str = "",
) -> ChangeLogEntry:
    """Append one change. `actor` is a user (or None for the system, an import, a key)."""
    label = actor_label or (actor.get_username() if actor is not None else "system")
    return ChangeLogEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=label,
        source=source,
        action=action,
        target_type=target_type,
        target_key=target_key,
        before=before,
        after=after,
        reason=reason,
    )
