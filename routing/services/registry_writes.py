"""Writes to the routing configuration (providers, models, agents, rules, strategies,
budgets, API keys) from the API, the dashboard and the Django admin.

Each write, its change-log entry (before and after, secret fields left out) and the
configuration revision bump commit together or not at all. Callers validate first (the
API's serializers and the dashboard's and the admin's ModelForms all run the model's
`full_clean`); these functions only write. The admin also writes rows of models not
named below (overrides, settings, experiment variants): their entries name them by
model and id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError

from agents.models import Agent
from routing.choices import ChangeSource
from routing.models import (
    ApiKey,
    Budget,
    ChangeLogEntry,
    LLMModel,
    Provider,
    RoutingRule,
    Strategy,
)
from routing.services.change_log import change_log_record, snapshot_of
from routing.services.config_revision import config_revision_bump

__all__ = [
    "MSG_IN_USE",
    "RegistryInUse",
    "change_log_name",
    "registry_delete",
    "registry_record",
    "registry_save",
    "registry_snapshot",
    "registry_write_many",
]

MSG_IN_USE = "'{target}' is still used by: {users}. Change or delete those first."

Row = TypeVar("Row", bound=models.Model)


@dataclass(frozen=True)
class _Naming:
    """How change-log entries name rows of one model, and which fields they leave out."""

    target_type: str
    key: Callable[[Any], str]
    secret_fields: tuple[str, ...] = ()


def _budget_key(budget: Budget) -> str:
    # The importer's name for a budget, so every way in logs under one key.
    return f"{budget.scope}:{budget.target_key or '*'}:{budget.period}"


_NAMING: dict[type[models.Model], _Naming] = {
    Provider: _Naming("provider", lambda row: row.name),
    LLMModel: _Naming("llmmodel", lambda row: row.key),
    Agent: _Naming("agent", lambda row: row.key),
    RoutingRule: _Naming("routingrule", lambda row: str(row.pk)),
    Strategy: _Naming("strategy", lambda row: row.key),
    Budget: _Naming("budget", _budget_key),
    ApiKey: _Naming("api_key", lambda row: row.name, secret_fields=("secret_hash",)),
}


def _naming(instance: models.Model) -> _Naming:
    naming = _NAMING.get(type(instance))
    if naming is None:
        return _Naming(instance._meta.model_name or "", lambda row: str(row.pk))
    return naming


class RegistryInUse(Exception):
    """A row other rows still point at (PROTECT or RESTRICT): nothing was deleted."""

    def __init__(self, target: str, used_by: list[str]) -> None:
        super().__init__(MSG_IN_USE.format(target=target, users=", ".join(used_by)))
        self.target = target
        self.used_by = used_by


def change_log_name(instance: models.Model) -> tuple[str, str]:
    """(target_type, target_key) of the change-log entries about `instance`."""
    naming = _naming(instance)
    return naming.target_type, naming.key(instance)


def registry_snapshot(instance: models.Model | None) -> dict[str, Any] | None:
    """The row as the change log keeps it: JSON-safe, without its secret fields."""
    data = snapshot_of(instance)
    if data is not None and instance is not None:
        for name in _naming(instance).secret_fields:
            data.pop(name, None)
    return data


def _log(
    verb: str,
    instance: models.Model,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: Any,
    source: ChangeSource,
    reason: str = "",
    target_key: str | None = None,
) -> ChangeLogEntry:
    naming = _naming(instance)
    return change_log_record(
        action=f"{naming.target_type}.{verb}",
        target_type=naming.target_type,
        target_key=naming.key(instance) if target_key is None else target_key,
        before=before,
        after=after,
        reason=reason,
        source=source,
        actor=actor,
    )


def registry_record(verb: str, instance: models.Model, **entry: Any) -> ChangeLogEntry:
    """Log one change of `instance` (`entry`: before, after, actor, source, and optionally
    reason and target_key) and bump the configuration revision. Call it inside the
    transaction of the change itself."""
    logged = _log(verb, instance, **entry)
    config_revision_bump()
    return logged


def _stored(instance: Row) -> Row | None:
    """The stored row behind `instance`, locked until the transaction ends."""
    return (
        type(instance)
        ._default_manager.select_for_update(of=("self",))
        .filter(pk=instance.pk)
        .first()
    )


def _save_logged(instance: models.Model, *, actor: Any, source: ChangeSource, reason: str) -> None:
    adding = instance._state.adding
    before = None if adding else registry_snapshot(_stored(instance))
    instance.save()
    _log(
        "create" if adding else "update",
        instance,
        before=before,
        after=registry_snapshot(instance),
        actor=actor,
        source=source,
        reason=reason,
    )


def _delete_logged(
    instance: models.Model,
    *,
    before: dict[str, Any] | None,
    actor: Any,
    source: ChangeSource,
    reason: str,
) -> None:
    _, target_key = change_log_name(instance)  # a rule's key is its pk, gone after delete
    try:
        with transaction.atomic():  # a savepoint, so a refusal leaves the outer one usable
            instance.delete()
    except (ProtectedError, RestrictedError) as exc:
        users = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        named = sorted({f"{obj._meta.verbose_name} {obj}" for obj in users})
        raise RegistryInUse(target_key, named) from exc
    _log(
        "delete",
        instance,
        before=before,
        after=None,
        actor=actor,
        source=source,
        reason=reason,
        target_key=target_key,
    )


def registry_save(instance: Row, *, actor: Any, source: ChangeSource, reason: str = "") -> Row:
    """Create or update a validated `instance`, with its change-log entry ("before" is
    the stored row, read under a lock) and a new configuration revision."""
    with transaction.atomic():
        _save_logged(instance, actor=actor, source=source, reason=reason)
        config_revision_bump()
    return instance


def registry_delete(
    instance: models.Model, *, actor: Any, source: ChangeSource, reason: str = ""
) -> None:
    """Delete `instance` with its change-log entry and a new revision. Raises
    RegistryInUse, naming the rows still using it, when other rows protect it."""
    with transaction.atomic():
        _delete_logged(
            instance,
            before=registry_snapshot(instance),
            actor=actor,
            source=source,
            reason=reason,
        )
        config_revision_bump()


def registry_write_many(
    *,
    save: Iterable[models.Model] = (),
    delete: Iterable[models.Model] = (),
    actor: Any,
    source: ChangeSource,
    reason: str = "",
) -> int:
    """Delete, then create or update, several rows in one transaction, each with its
    change-log entry, and bump the revision once (not at all when nothing was written):
    the admin's bulk delete and its inline rows. Returns how many rows were written.

    A row to delete is read again under a lock, so its "before" is the stored row (the
    admin hands over instances its forms have edited), and one already gone, deleted by
    a cascade from an earlier row, is skipped. Raises RegistryInUse, and writes nothing,
    when other rows still use a row to delete."""
    written = 0
    with transaction.atomic():
        for instance in delete:
            stored = _stored(instance)
            if stored is None:
                continue
            _delete_logged(
                instance,
                before=registry_snapshot(stored),
                actor=actor,
                source=source,
                reason=reason,
            )
            written += 1
        for instance in save:
            _save_logged(instance, actor=actor, source=source, reason=reason)
            written += 1
        if written:
            config_revision_bump()
    return written
