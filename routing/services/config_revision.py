"""The configuration version: bumped in the transaction of every configuration change,
so each process's cached snapshot knows when it is stale."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from routing.models import ConfigRevision


def config_revision_bump() -> int:
    """Increment the version atomically (an UPDATE with F(), never read-modify-write).
    This process re-reads the configuration as soon as the change commits; others
    notice within routing.snapshot.CONFIG_VERSION_TTL."""
    transaction.on_commit(_forget_local_snapshot)
    updated = ConfigRevision.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        ConfigRevision.objects.get_or_create(pk=1)
        ConfigRevision.objects.filter(pk=1).update(version=F("version") + 1)
    return ConfigRevision.objects.values_list("version", flat=True).get(pk=1)


def config_revision_current() -> int:
    version = ConfigRevision.objects.filter(pk=1).values_list("version", flat=True).first()
    return version or 0


def _forget_local_snapshot() -> None:
    from routing.snapshot import forget_snapshot  # the snapshot module imports this one

    forget_snapshot()
