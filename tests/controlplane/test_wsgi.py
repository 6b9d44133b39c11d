"""The WSGI entry point hands Django only the request's own environ: granian starts
every request's environ from the process's environment (secrets included)."""

from __future__ import annotations

import io
from typing import Any

from controlplane.wsgi import without_process_environment


def seen_by_app() -> tuple[Any, dict[str, Any]]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return [b"ok"]

    return app, seen


def request_environ(**extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/route",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": "2",
        "CONTENT_TYPE": "application/json",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": "Bearer sb_x_y",
        "wsgi.input": io.BytesIO(b"{}"),
        **extra,
    }


def test_the_process_environment_never_reaches_the_request():
    app, seen = seen_by_app()
    process = {
        "OPENAI_API_KEY": "sk-secret",
        "SECRET_KEY": "s",
        "DATABASE_URL": "postgres://u:p@h/d",
    }
    wrapped = without_process_environment(app, process)

    body = wrapped(request_environ(**process), lambda *a: None)

    assert list(body) == [b"ok"]
    assert not set(process) & set(seen)
    assert "sk-secret" not in repr(seen)


def test_the_request_keeps_its_own_cgi_variables_and_headers():
    app, seen = seen_by_app()
    # A process may well have these set; the request's own values must survive.
    wrapped = without_process_environment(
        app, {"SERVER_NAME": "box", "PATH_INFO": "/x", "HOME": "/root"}
    )
    environ = request_environ()

    wrapped(dict(environ), lambda *a: None)

    assert seen == environ


def test_a_proxy_variable_cannot_pose_as_a_request_header():
    """httpoxy: HTTP_PROXY in the process environment would read as a `Proxy:` header."""
    app, seen = seen_by_app()
    wrapped = without_process_environment(app, {"HTTP_PROXY": "http://evil:3128"})

    wrapped(request_environ(HTTP_PROXY="http://evil:3128"), lambda *a: None)

    assert "HTTP_PROXY" not in seen
    assert seen["HTTP_AUTHORIZATION"] == "Bearer sb_x_y"
