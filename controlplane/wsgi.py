"""WSGI entry point (gunicorn controlplane.wsgi:application). Imported in each worker
after the fork (the app is not preloaded), so the heap trimmer runs in every worker."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from controlplane import heap_trim

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

application = get_wsgi_application()
heap_trim.start(settings.SWITCHBOARD_MALLOC_TRIM_SECONDS)
