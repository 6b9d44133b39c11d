"""Celery tasks of the routing app: thin, each calls one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from routing.services.overrides import overrides_expire


@shared_task(ignore_result=True)
def expire_overrides() -> int:
    """Record the end of every override past its expiry. No retry: beat runs it again
    within a minute, and a run that overlaps another closes nothing twice."""
    return overrides_expire(timezone.now())
