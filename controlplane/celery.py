"""The Celery app. Configuration comes from Django settings (CELERY_* names).

Without REDIS_URL, settings make every task run eagerly in-process, so the embedded
default needs no broker; with it, workers and beat share the Redis broker.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

app = Celery("controlplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _trim_heap(**_: object) -> None:
    """Each worker process (prefork child) trims its freed heap too; see heap_trim."""
    from django.conf import settings

    from controlplane import heap_trim

    heap_trim.start(settings.SWITCHBOARD_MALLOC_TRIM_SECONDS)
