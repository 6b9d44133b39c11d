"""ASGI entry point (uvicorn controlplane.asgi:application). Imported in each worker, so
the heap trimmer runs in every worker."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from controlplane import heap_trim

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

application = get_asgi_application()
heap_trim.start(settings.SWITCHBOARD_MALLOC_TRIM_SECONDS)
