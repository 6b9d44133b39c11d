"""The overview's model health panel: the last probe of each enabled model, and whether
routing skips it now because a probe failed or because of a 429 / open circuit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from routing.choices import ModelType
from routing.execution import breaker
from routing.models import ModelHealth
from routing.selectors.model_health import (
    DOWN,
    NEVER,
    REASON_PROBE,
    REASON_RATE_LIMIT,
    UP,
    model_health_rows,
)
from routing.services.health import models_probe
from tests.factories import make_model, make_provider

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
HTML_ERROR = "http_5xx: <script>alert('x')</script> " + "upstream said no. " * 20


def page_client(user: Any) -> Client:
    # Not the `client` fixture: in tests/routing that is an httpx client on a live server.
    web = Client()
    web.force_login(user)
    return web


def rows_by_key(now: datetime = NOW) -> dict[str, Any]:
    return {row.key: row for row in model_health_rows(now)}


def test_a_healthy_model_shows_up_with_its_latency_and_how_long_ago() -> None:
    model = make_model(key="llama-local")
    ModelHealth.objects.create(
        model=model, healthy=True, latency_ms=42, checked_at=NOW - timedelta(seconds=12)
    )

    row = rows_by_key()["llama-local"]

    assert (row.status, row.latency_ms, row.checked_ago) == (UP, 42, "12s ago")
    assert row.local is True
    assert (row.consecutive_failures, row.error, row.cooling_until) == (0, "", None)


def test_a_failed_model_shows_down_with_its_error_truncated() -> None:
    model = make_model(key="gpt-cloud", type=ModelType.CLOUD)
    ModelHealth.objects.create(
        model=model,
        healthy=False,
        latency_ms=None,
        consecutive_failures=3,
        error=HTML_ERROR[:300],
        checked_at=NOW - timedelta(minutes=2),
    )

    row = rows_by_key()["gpt-cloud"]

    assert (row.status, row.local, row.consecutive_failures) == (DOWN, False, 3)
    assert row.checked_ago == "2m ago"
    assert len(row.error) == 120
    assert row.error.startswith("http_5xx: <script>")
    assert row.error_full == HTML_ERROR[:300]


def test_a_model_never_probed_says_so() -> None:
    make_model(key="fresh")

    row = rows_by_key()["fresh"]

    assert (row.status, row.checked_at, row.checked_ago, row.latency_ms) == (NEVER, None, "", None)


def test_disabled_models_are_left_out() -> None:
    make_model(key="on")
    make_model(key="off", enabled=False)

    assert list(rows_by_key()) == ["on"]


def test_a_model_a_failed_probe_cooled_down_says_the_probe_did_it() -> None:
    make_model(key="sim-broken", provider=make_provider(options={"failure_rate": 1}))
    models_probe(NOW)  # the real probe path: the ModelHealth row, cooldown and marker

    row = rows_by_key(NOW + timedelta(seconds=1))["sim-broken"]

    assert row.status == DOWN
    assert row.cooling_until is not None
    assert row.cooling_until > NOW
    assert row.cooling_reason == REASON_PROBE
    assert "failure_rate 1" in row.error


def test_a_model_cooling_down_after_a_429_says_429_or_open_circuit() -> None:
    model = make_model(key="rate-limited")
    ModelHealth.objects.create(model=model, healthy=True, latency_ms=30, checked_at=NOW)
    until = breaker.cool_down("rate-limited", 90, NOW)

    row = rows_by_key()["rate-limited"]

    assert row.status == UP
    assert (row.cooling_until, row.cooling_left) == (until, "1m30s")
    assert row.cooling_reason == REASON_RATE_LIMIT


def test_a_cooldown_that_has_ended_is_not_shown() -> None:
    make_model(key="recovered")
    breaker.cool_down("recovered", 30, NOW)

    row = rows_by_key(NOW + timedelta(seconds=31))["recovered"]

    assert (row.cooling_until, row.cooling_reason) == (None, "")


def test_a_viewer_sees_the_panel_with_the_error_escaped(viewer_user: Any) -> None:
    probed = make_model(key="gpt-cloud", type=ModelType.CLOUD)
    ModelHealth.objects.create(
        model=probed, healthy=False, consecutive_failures=2, error=HTML_ERROR[:300], checked_at=NOW
    )
    make_model(key="never-probed")
    breaker.cool_down("gpt-cloud", 60, NOW)

    with time_machine.travel(NOW, tick=False):
        page = page_client(viewer_user).get("/")
        partial = page_client(viewer_user).get("/", HTTP_HX_REQUEST="true")

    assert page.status_code == partial.status_code == 200
    for response in (page, partial):
        html = response.content.decode()
        assert 'data-testid="model-health"' in html
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
        assert 'data-model="gpt-cloud"' in html
        assert 'data-model="never-probed"' in html
        assert "never probed" in html
        assert "cooling down" in html
        assert REASON_RATE_LIMIT in html
        # Read-only: the panel has no form and no button.
        panel = html.split('data-testid="model-health"', 1)[1].split("</article>", 1)[0]
        assert "<form" not in panel
        assert "<button" not in panel
