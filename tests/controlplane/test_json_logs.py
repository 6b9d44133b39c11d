"""Structured logs: a real routed request logs JSON lines that carry its decision id and
request id, and never its prompt, the caller's API key or the provider's secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from controlplane.logging import LogContextFilter, current_decision_id, json_formatter
from routing.choices import ModelType, ProviderKind, Tier
from routing.execution import executor
from tests.controlplane.test_settings import ROOT, run_check
from tests.factories import make_agent, make_model, make_provider
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.django_db

PROMPT = "Summarise the launch plan codenamed BLUE-HERON-7731 for the board"
SECRET_ENV = "SB_TEST_JSONLOG_PROVIDER_KEY"
SECRET = "sk-provider-secret-value-5566"


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged, as the console handler in settings.LOGGING writes it in JSON."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter())
    handler.addFilter(LogContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]  # each must be JSON


@pytest.fixture
def cloud(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cloud agent whose first model fails (500) and whose second answers."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    provider = make_provider(
        kind=ProviderKind.OPENAI_COMPATIBLE,
        tier=Tier.PREMIUM,
        base_url=f"{upstream.url}/v1",
        api_key_env=SECRET_ENV,
    )
    fields = {"type": ModelType.CLOUD, "cost_input_per_1k": Decimal("0.01"), "timeout_s": 5}
    failing = make_model(key="gpt-down", provider=provider, model_id="m@status=500", **fields)
    answering = make_model(key="gpt-up", provider=provider, model_id="m", **fields)
    make_agent(key="planner", primary_model=failing, fallback_model=answering)


def test_a_routed_request_logs_json_with_its_ids_and_no_prompt_or_secret(
    cloud, captured: io.StringIO, service_key, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream_calls = []
    real_complete = executor.complete

    def complete_and_log(target: Any, request: Any) -> Any:
        # A line logged deep inside the request, like a provider adapter's.
        upstream_calls.append(current_decision_id())
        logging.getLogger("routing.providers").info("calling %s", target.model_id)
        return real_complete(target, request)

    monkeypatch.setattr(executor, "complete", complete_and_log)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {service_key.plaintext}")

    response = api.post(
        "/api/route",
        {"agent": "planner", "messages": [{"role": "user", "content": PROMPT}]},
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-abc.123",
    )

    assert response.status_code == 200, response.content
    decision_id = response.json()["decision_id"]
    assert response["X-Request-ID"] == "req-abc.123"
    lines = _lines(captured)
    (routed,) = [line for line in lines if line["message"].startswith("request routed")]
    assert routed["decision_id"] == decision_id
    assert routed["request_id"] == "req-abc.123"
    assert routed["level"] == "INFO"
    assert routed["logger"] == "routing.requests"
    assert (routed["agent"], routed["model_used"], routed["outcome"]) == (
        "planner",
        "gpt-up",
        "success",
    )
    assert (routed["attempts"], routed["fallbacks"]) == (2, 1)
    assert routed["cost_usd"] > 0
    assert isinstance(routed["latency_ms"], int)
    assert "time" in routed
    inner = [line for line in lines if line["logger"] == "routing.providers"]
    assert len(inner) == 2
    assert {line["decision_id"] for line in inner} == {decision_id}
    assert upstream_calls == [decision_id, decision_id]
    text = captured.getvalue()
    assert PROMPT not in text
    assert "BLUE-HERON" not in text
    assert service_key.plaintext not in text
    assert SECRET not in text
    # The request is recorded: nothing logged later in this thread claims its decision.
    assert current_decision_id() is None


def test_a_refused_request_logs_its_decision_id_too(captured: io.StringIO, service_key, db) -> None:
    api = Client(HTTP_AUTHORIZATION=f"Bearer {service_key.plaintext}")

    response = api.post(
        "/api/route",
        {"agent": "nobody", "messages": [{"role": "user", "content": PROMPT}]},
        content_type="application/json",
    )

    assert response.status_code == 404
    (routed,) = [line for line in _lines(captured) if line["message"].startswith("request routed")]
    assert routed["decision_id"] == response.json()["error"]["decision_id"]
    assert (routed["outcome"], routed["error_code"]) == ("refused", "unknown_agent")
    assert len(routed["request_id"]) == 32  # none given: a fresh one
    assert PROMPT not in captured.getvalue()


def test_a_malformed_request_id_is_replaced(db) -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\twith spaces")

    assert response["X-Request-ID"] != "bad id\twith spaces"
    assert len(response["X-Request-ID"]) == 32


# -- the settings -----------------------------------------------------------------------------


def _log_one_line(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "LOG_FORMAT", "REDIS_URL"}}
    code = "import logging; logging.getLogger('probe').warning('hello %s', 'there')"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={
            **base,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'logs.sqlite3'}",
            "SECRET_KEY": "x" * 50,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_logs_are_json_by_default_and_plain_on_request(tmp_path: Path) -> None:
    json_run = _log_one_line(tmp_path, DEBUG="false")
    plain_run = _log_one_line(tmp_path, DEBUG="false", LOG_FORMAT="plain")
    dev_run = _log_one_line(tmp_path, DEBUG="true")

    assert json_run.returncode == 0, json_run.stderr
    line = json.loads(json_run.stderr.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "probe", "hello there")
    assert plain_run.stderr.strip().endswith("WARNING probe hello there")
    assert dev_run.stderr.strip().endswith("WARNING probe hello there")


def test_an_unknown_log_format_stops_start_up(tmp_path: Path) -> None:
    result = run_check(tmp_path, DEBUG="true", LOG_FORMAT="xml")

    assert result.returncode != 0
    assert '"LOG_FORMAT"' in result.stderr
    assert "Traceback" not in result.stderr
