"""`manage.py generate_decisions`: decisions made by the real engine on the demo
configuration, answered by the simulated provider, written in bulk and rolled up."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from routing.choices import DecisionOutcome
from routing.models import Decision, DecisionRollup, LLMModel, SpendLedger
from routing.selectors import overview as selectors
from routing.services.demo_traffic import CALLER
from routing.services.rollups import rollup_watermark

pytestmark = pytest.mark.django_db


def generate(*args: str) -> str:
    out = StringIO()
    call_command("generate_decisions", *args, stdout=out)
    return out.getvalue()


def test_it_writes_decisions_of_the_demo_configuration_and_rolls_them_up() -> None:
    started = timezone.now()

    output = generate("--count", "400", "--shapes", "600", "--days", "3", "--seed", "5")

    assert "importing the demo configuration" in output
    assert LLMModel.objects.filter(key="llama-3-70b").exists()
    rows = Decision.objects.all()
    assert rows.count() == 400
    assert set(rows.values_list("api_key_name", flat=True)) == {CALLER}
    oldest, newest = rows.order_by("created_at")[0], rows.order_by("-created_at")[0]
    assert started - timedelta(days=3) <= oldest.created_at <= newest.created_at <= timezone.now()
    assert rows.filter(outcome=DecisionOutcome.SUCCESS).exists()
    assert rows.values("outcome").distinct().count() >= 3
    assert rows.values("strategy").distinct().count() >= 2
    assert rows.values("model_used").distinct().count() >= 3
    assert rows.exclude(pii_types=[]).exists()
    # The rows are the audit writer's: the replay inputs and a masked excerpt are there.
    row = rows.exclude(outcome=DecisionOutcome.REFUSED).first()
    assert row is not None
    assert "inputs" in row.trace
    assert row.prompt_excerpt
    assert "Wrote 400 decisions" in output
    assert "Rolled up" in output
    assert rollup_watermark() is not None
    assert DecisionRollup.objects.filter(granularity="hour").exists()


def test_the_engine_kept_every_request_with_pii_off_the_cloud() -> None:
    generate("--count", "300", "--shapes", "150", "--days", "2", "--seed", "5")

    with_pii = Decision.objects.exclude(pii_types=[])
    window = selectors.overview_window(7, timezone.now())

    assert with_pii.exists()
    assert not with_pii.filter(local_only=False).exists()
    assert selectors.privacy_series(window)["pii_to_cloud_total"] == 0


def test_generated_traffic_touches_no_budget_and_no_shared_cache() -> None:
    generate("--count", "200", "--shapes", "60", "--days", "1", "--failure-rate", "0.5")

    assert not SpendLedger.objects.exists()
    # Breaker counts and cached answers of the simulated calls stayed in a private cache.
    assert not any(
        cache.get(f"routing:failures:{key}")
        for key in LLMModel.objects.values_list("key", flat=True)
    )


def test_a_failure_rate_of_1_fails_every_call() -> None:
    generate("--count", "200", "--shapes", "60", "--days", "1", "--failure-rate", "1")

    assert not Decision.objects.filter(outcome=DecisionOutcome.SUCCESS).exists()
    failed = Decision.objects.filter(outcome=DecisionOutcome.FAILED)
    assert failed.exists()
    reasons = {a["reason"].split(":")[0] for row in failed for a in row.attempts if a["latency_ms"]}
    assert reasons == {"http_5xx"}


def test_without_rollup_it_leaves_the_rollups_to_the_task() -> None:
    generate("--count", "50", "--shapes", "20", "--no-rollup")

    assert Decision.objects.count() == 50
    assert rollup_watermark() is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "'0' must be at least 1"),
        (["--count", "many"], "'many' is not a whole number"),
        (["--failure-rate", "2"], "--failure-rate must be between 0 and 1"),
    ],
)
def test_bad_arguments_say_what_is_wrong(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        generate(*args)

    assert not Decision.objects.exists()
