"""WSGI entry point (`granian --interface wsgi controlplane.wsgi:application`). Imported
in each worker process (the app is not preloaded), so the heap trimmer runs in every
worker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from controlplane import heap_trim

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

# What a server sets per request (PEP 3333 and CGI); everything else of the process's
# environment is not the request's.
_REQUEST_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "GATEWAY_INTERFACE",
        "SERVER_SOFTWARE",
    }
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def without_process_environment(app: WSGIApp, process_environ: Iterable[str]) -> WSGIApp:
    """Granian, like CGI, starts every request's environ from a copy of the process's
    environment: provider keys, SECRET_KEY and DATABASE_URL would sit in request.META
    (where an error report can show them), and a variable such as HTTP_PROXY would read
    as a request header (httpoxy). Drop them; a request header of the same name as one
    of them (`Proxy:`) goes too, which is what httpoxy's advice asks anyway."""
    leaked = frozenset(process_environ) - _REQUEST_KEYS

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        for key in leaked.intersection(environ):
            del environ[key]
        return app(environ, start_response)

    return application


application = without_process_environment(get_wsgi_application(), os.environ)
heap_trim.start(settings.SWITCHBOARD_MALLOC_TRIM_SECONDS)
