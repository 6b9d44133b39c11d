"""The configuration version: bumped in the transaction of every configuration change,
so each process's cached snapshot knows when it is stale."""

from __future__ import annotations

from django.db.models import F

from routing.models import ConfigRevision


def config_revision_bump() -> int:
    """Increment the version atomically (an UPDATE with F(), never read-modify-write)."""
    updated = ConfigRevision.objects.filter(pk=1).update(version=F("version") + 1)
    if not updated:
        ConfigRevision.objects.get_or_create(pk=1)
        ConfigRevision.objects.filter(pk=1).update(version=F("version") + 1)
    return ConfigRevision.objects.values_list("version", flat=True).get(pk=1)


def config_revision_current() -> int:
    version = ConfigRevision.objects.filter(pk=1).values_list("version", flat=True).first()
    return version or 0
