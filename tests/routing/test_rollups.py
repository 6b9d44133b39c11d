"""Decision rollups (routing.services.rollups) and the overview read from them plus the
live tail: the same answer as the decision table alone, whatever was rolled up when;
idempotent and order-proof runs; late rows; minute pruning; the Celery task."""

from __future__ import annotations

import itertools
import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections
from django.test import Client

from routing.choices import DecisionOutcome, ModelType
from routing.models import (
    AttemptRollup,
    Decision,
    DecisionRollup,
    LatencyRollup,
    PiiTypeRollup,
    RollupWatermark,
)
from routing.rejection_reasons import reason_bucket
from routing.rollup_sql import LATENCY_BIN_EDGES_MS, latency_bin, latency_bin_upper
from routing.selectors import overview as selectors
from routing.services.rollups import GRACE, LOOKBACK, decisions_rollup, rollup_watermark
from routing.snapshot import current_snapshot
from routing.tasks import rollup_decisions
from tests.factories import make_budget, make_decision, make_model, make_user

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 15, 37, 20, tzinfo=UTC)
ROLLED = datetime(2025, 3, 10, 15, 35, tzinfo=UTC)  # NOW - GRACE, to the minute
# What rejected attempts say (routing.execution), with the cases the SQL must match.
REASONS = [
    "timeout: no answer within 30.0s",
    "first_token_timeout: no first token within 5s",
    "http_5xx: simulated failure (circuit open for 30s)",
    "rate limited (429); cooling down until 2025-03-10T15:00:30+00:00",
    "connect: connection refused",
    "refusal ('I cannot')",
    "empty answer",
    "invalid JSON: no JSON object found",
    "schema violation at name: 'name' is a required property",
    "answer cut off (finish_reason length) while a schema was asked for",
    "cooling down until 2025-03-10T15:01:00+00:00",
    "stream failed after the first token: timeout: read timed out",
    "privacy: only local models may see this request",
    "  Timeout: padded and capitalised\n",
    "http_4xx: 400 bad request",
    "100% odd 'quoted' reason",
    "",
    None,
]
SERIES_WITH_SCAN_FIELDS = {
    "fallbacks": ("scanned", "capped"),
    "privacy": ("pii_scanned", "pii_capped"),
}


def seed(n: int = 400, *, days: int = 9, rng_seed: int = 7) -> list[Decision]:
    """`n` varied decisions over the last `days` days up to NOW (some in its last
    minutes, the live tail), on a local and a cloud model of the registry."""
    rng = random.Random(rng_seed)
    local = make_model(key="local-a", type=ModelType.LOCAL)
    cloud = make_model(key="cloud-b", type=ModelType.CLOUD)
    models = [local.key, cloud.key, "deleted-cloud", ""]
    rows = []
    for i in range(n):
        if i % 10 == 0:  # the live tail and the minutes just before the watermark
            created = NOW - timedelta(seconds=rng.randrange(0, 600))
        else:
            created = NOW - timedelta(seconds=rng.randrange(0, days * 86_400))
        outcome = rng.choice(
            [DecisionOutcome.SUCCESS] * 6
            + [DecisionOutcome.FAILED, DecisionOutcome.REFUSED, DecisionOutcome.DRY_RUN]
        )
        model_used = rng.choice(models) if outcome == DecisionOutcome.SUCCESS else ""
        attempts = [
            {
                "model": rng.choice([local.key, cloud.key, "other-m", None, ""]),
                "outcome": rng.choice(["rejected", "invalid", "rejected"]),
                "reason": rng.choice(REASONS),
                "latency_ms": 5,
            }
            for _ in range(rng.randrange(0, 3))
        ]
        if model_used:
            attempts.append({"model": model_used, "outcome": "success", "reason": None})
        pii = rng.choice([[], [], [], ["email"], ["email", "email", "phone"], ["iban"]])
        rows.append(
            Decision(
                created_at=created,
                agent_key=rng.choice(["backend", "frontend", ""]),
                strategy=rng.choice(["balanced", "privacy_first", ""]),
                outcome=outcome,
                model_used=model_used,
                provider="p" if model_used else "",
                cost_usd=Decimal(rng.randrange(0, 5000)) / 10**6,
                fallback_tax_usd=Decimal(rng.choice([0, 0, 0, rng.randrange(1, 900)])) / 10**6,
                prompt_tokens=rng.randrange(0, 3000),
                completion_tokens=rng.randrange(0, 800),
                latency_ms=int(rng.lognormvariate(6, 1))
                if rng.random() > 0.05
                else rng.randrange(0, 16),
                cached=rng.random() < 0.1,
                pii_types=pii,
                local_only=bool(pii) or rng.random() < 0.1,
                attempts=attempts,
            )
        )
    return Decision.objects.bulk_create(rows)


def unrolled(days: int, now: datetime = NOW) -> selectors.OverviewWindow:
    """The window as if nothing were rolled up: all of it from the decision table."""
    return selectors.overview_window(days, now, rolled_until=None)


def series(window: selectors.OverviewWindow) -> dict[str, Any]:
    return {
        "spend_by_agent": selectors.spend_by_agent_series(window),
        "fallbacks": selectors.fallback_by_reason_series(window),
        "privacy": selectors.privacy_series(window),
        "strategies": selectors.decisions_by_strategy_series(window),
        "fallback_tax": selectors.fallback_tax_series(window),
    }


def without_scan_fields(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in data.items():
        drop = SERIES_WITH_SCAN_FIELDS.get(name, ())
        out[name] = {k: v for k, v in value.items() if k not in drop}
    return out


def rollup_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row, comparable across runs (ids left out)."""
    tables = {
        "decisions": (DecisionRollup, ("id",)),
        "attempts": (AttemptRollup, ("id",)),
        "pii": (PiiTypeRollup, ("id",)),
        "latency": (LatencyRollup, ("id",)),
    }
    out = {}
    for name, (model, skip) in tables.items():
        fields = [f.name for f in model._meta.concrete_fields if f.name not in skip]
        out[name] = sorted(model.objects.values_list(*fields), key=repr)
    return out


# -- rollup + tail == the decision table ----------------------------------------------------


@pytest.mark.parametrize("days", [7, 30])
def test_the_rollups_plus_the_live_tail_give_what_the_decision_table_gives(days: int) -> None:
    seed()
    direct = series(unrolled(days))

    decisions_rollup(NOW)
    window = selectors.overview_window(days, NOW)

    assert window.rolled_until == ROLLED
    assert without_scan_fields(series(window)) == without_scan_fields(direct)
    # The JSON scans now read only the tail, after the watermark.
    tail = Decision.objects.filter(created_at__gte=ROLLED, created_at__lte=NOW)
    assert selectors.fallback_by_reason_series(window)["scanned"] == tail.count()
    assert (
        direct["fallbacks"]["scanned"]
        == Decision.objects.filter(created_at__gte=window.start).count()
    )


def test_the_window_reads_days_hours_minutes_and_the_tail_from_where_each_is_closed() -> None:
    seed()
    decisions_rollup(NOW)

    parts = selectors._parts(selectors.overview_window(7, NOW))

    start = datetime(2025, 3, 4, tzinfo=UTC)
    today, hour = datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 10, 15, tzinfo=UTC)
    assert parts.ranges == [("day", start, today), ("hour", today, hour), ("minute", hour, ROLLED)]
    assert parts.tail_start == ROLLED
    assert parts.tail_end == NOW + timedelta(microseconds=1)


def test_rollups_hold_closed_buckets_only_and_their_sums_match_the_decisions() -> None:
    rows = seed()
    decisions_rollup(NOW)

    def rolled(granularity: str) -> int:
        return sum(
            DecisionRollup.objects.filter(granularity=granularity).values_list(
                "decisions", flat=True
            )
        )

    today, hour = datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 10, 15, tzinfo=UTC)
    first_day = min(r.created_at for r in rows).replace(hour=0, minute=0, second=0, microsecond=0)
    assert rolled("day") == sum(first_day <= r.created_at < today for r in rows)
    assert rolled("hour") == sum(first_day <= r.created_at < hour for r in rows)
    horizon = (NOW - timedelta(days=settings.SWITCHBOARD_ROLLUP_MINUTE_RETENTION_DAYS)).replace(
        second=0, microsecond=0
    )
    assert rolled("minute") == sum(horizon <= r.created_at < ROLLED for r in rows)
    assert not DecisionRollup.objects.filter(bucket_start__gte=ROLLED).exists()
    assert not DecisionRollup.objects.filter(granularity="day", bucket_start__gte=today).exists()


def test_sql_buckets_every_rejection_reason_as_python_does() -> None:
    for n, reason in enumerate(REASONS):
        make_decision(
            created_at=NOW - timedelta(hours=2, minutes=n),
            attempts=[{"model": "m", "outcome": "rejected", "reason": reason}],
        )
    decisions_rollup(NOW)

    # Day rows exist for closed days only: today's attempts are in the hour rows.
    rolled: Counter[str] = Counter()
    for row in AttemptRollup.objects.filter(granularity="hour"):
        rolled[row.reason_bucket] += row.attempts

    assert rolled == Counter(reason_bucket(r) for r in REASONS)


def test_a_decision_listing_a_pii_type_twice_counts_once_for_it() -> None:
    make_decision(created_at=NOW - timedelta(hours=3), pii_types=["email", "email", "phone"])
    decisions_rollup(NOW)

    rows = dict(
        PiiTypeRollup.objects.filter(granularity="hour").values_list("pii_type", "decisions")
    )

    assert rows == {"email": 1, "phone": 1}


def test_pii_answered_by_a_cloud_model_reads_1_from_the_rollups_alone() -> None:
    make_model(key="cloud-b", type=ModelType.CLOUD)
    make_decision(created_at=NOW - timedelta(days=2), pii_types=["iban"], model_used="cloud-b")
    decisions_rollup(NOW)
    Decision.objects.all().delete()  # the retention deleted it; the rollup keeps it

    privacy = selectors.privacy_series(selectors.overview_window(7, NOW))

    assert privacy["pii_to_cloud_total"] == 1
    assert privacy["pii_to_cloud"] == [0, 0, 0, 0, 1, 0, 0]


# -- latency --------------------------------------------------------------------------------


def test_the_latency_bins_cover_every_value_and_are_at_most_9_1_percent_wide() -> None:
    assert LATENCY_BIN_EDGES_MS[:17] == tuple(range(17))
    for lower, upper in itertools.pairwise(LATENCY_BIN_EDGES_MS):
        assert latency_bin(lower) == lower
        assert latency_bin(upper - 1) == lower
        assert latency_bin_upper(lower) == upper
        if lower:
            assert (upper - 1 - lower) / lower <= 0.091
    assert latency_bin(10**9) == LATENCY_BIN_EDGES_MS[-1]
    assert latency_bin_upper(LATENCY_BIN_EDGES_MS[-1]) is None


def test_sql_and_python_put_every_latency_in_the_same_bin() -> None:
    latencies = sorted({0, 1, 15, 16, 17, 18, 35, 38, 39, 1000, 1_048_575, 1_048_576, 5_000_000})
    latencies += list(range(100, 3000, 37))
    for n, latency in enumerate(latencies):
        make_decision(created_at=NOW - timedelta(hours=1, seconds=n), latency_ms=latency)
    decisions_rollup(NOW)

    rolled: Counter[int] = Counter()
    for lower, answers in LatencyRollup.objects.filter(granularity="minute").values_list(
        "lower_ms", "answers"
    ):
        rolled[lower] += answers

    assert rolled == Counter(latency_bin(v) for v in latencies)


def test_percentiles_from_the_histograms_are_within_a_bin_of_the_exact_ones() -> None:
    seed(600)
    exact = selectors.latency_by_model_series(unrolled(7))
    decisions_rollup(NOW)

    rolled = selectors.latency_by_model_series(selectors.overview_window(7, NOW))

    assert (exact["method"], rolled["method"]) == ("exact", "histogram")
    assert rolled["models"] == exact["models"]
    assert rolled["count"] == exact["count"]
    for key in ("p50_ms", "p95_ms"):
        for got, want in zip(rolled[key], exact[key], strict=True):
            assert got == pytest.approx(want, rel=0.091, abs=0.1)


def test_a_histogram_percentile_is_exact_for_values_below_16_ms() -> None:
    values = [0, 3, 3, 7, 9, 12, 15, 15]
    bins = sorted(Counter(latency_bin(v) for v in values).items())

    for fraction in (0.0, 0.25, 0.5, 0.95, 1.0):
        assert selectors.histogram_percentile(bins, fraction) == pytest.approx(
            selectors.percentile([float(v) for v in values], fraction)
        )


# -- idempotent, order-proof, late rows -----------------------------------------------------


def test_running_the_rollup_twice_changes_nothing() -> None:
    seed()
    decisions_rollup(NOW)
    first = rollup_rows()

    again = decisions_rollup(NOW)

    assert rollup_rows() == first
    assert again.rolled_until == ROLLED
    # The second run only went back LOOKBACK before the watermark.
    assert again.ranges["minute"][0] == (ROLLED - LOOKBACK).isoformat()


def test_a_run_with_an_earlier_clock_never_moves_the_watermark_back() -> None:
    seed()
    decisions_rollup(NOW)
    rows = rollup_rows()

    decisions_rollup(NOW - timedelta(minutes=5))

    assert rollup_watermark() == ROLLED
    assert rollup_rows() == rows


def test_a_late_row_is_counted_by_the_next_run() -> None:
    seed()
    decisions_rollup(NOW)
    # Committed after the run, with a created_at before its watermark.
    make_decision(created_at=ROLLED - timedelta(minutes=3), agent_key="late", cost_usd=Decimal("7"))
    window = selectors.overview_window(7, NOW)
    assert "late" not in [a["agent"] for a in selectors.spend_by_agent_series(window)["agents"]]

    later = NOW + timedelta(minutes=1)
    decisions_rollup(later)

    rolled = series(selectors.overview_window(7, later))
    assert without_scan_fields(rolled) == without_scan_fields(series(unrolled(7, later)))
    assert {"agent": "late", "usd": [0, 0, 0, 0, 0, 0, 7.0]} in rolled["spend_by_agent"]["agents"]


def test_a_row_later_than_the_lookback_needs_a_run_from_since() -> None:
    seed()
    decisions_rollup(NOW)
    old = NOW - timedelta(days=3)
    make_decision(created_at=old, agent_key="backfilled", cost_usd=Decimal("2"))

    decisions_rollup(NOW)
    assert not DecisionRollup.objects.filter(agent_key="backfilled").exists()
    decisions_rollup(NOW, since=old)

    assert DecisionRollup.objects.filter(agent_key="backfilled", granularity="day").exists()
    window = selectors.overview_window(7, NOW)
    assert without_scan_fields(series(window)) == without_scan_fields(series(unrolled(7)))


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_take_turns_and_count_nothing_twice() -> None:
    seed()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait(timeout=10)
            decisions_rollup(NOW)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    if connection.vendor == "postgresql":  # the watermark's row lock: the second waits
        assert not errors, errors
    else:  # SQLite's shared-cache test database turns the second writer away instead
        assert len(errors) <= 1, errors
        assert all(isinstance(e, OperationalError) for e in errors), errors
    assert RollupWatermark.objects.count() == 1
    window = selectors.overview_window(7, NOW)
    assert without_scan_fields(series(window)) == without_scan_fields(series(unrolled(7)))


def test_minute_rows_are_pruned_past_their_retention_and_hours_and_days_kept(settings: Any) -> None:
    settings.SWITCHBOARD_ROLLUP_MINUTE_RETENTION_DAYS = 1
    make_decision(created_at=NOW - timedelta(hours=30))
    make_decision(created_at=NOW - timedelta(hours=3))
    decisions_rollup(NOW - timedelta(hours=24))  # minute rows for both
    assert DecisionRollup.objects.filter(granularity="minute").count() == 1

    run = decisions_rollup(NOW)

    minutes = DecisionRollup.objects.filter(granularity="minute")
    assert [m.bucket_start for m in minutes] == [(NOW - timedelta(hours=3)).replace(second=0)]
    assert run.pruned_minute_rows >= 1
    assert DecisionRollup.objects.filter(granularity="day").count() == 1
    assert DecisionRollup.objects.filter(granularity="hour").count() == 2


def test_the_first_run_starts_at_the_first_decision_and_an_empty_table_is_fine() -> None:
    assert decisions_rollup(NOW).ranges == {}
    assert rollup_watermark() == ROLLED

    make_decision(created_at=NOW - timedelta(days=40))
    RollupWatermark.objects.all().delete()
    run = decisions_rollup(NOW)

    assert (
        run.ranges["day"][0]
        == (NOW - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    )


def test_grace_leaves_the_last_minutes_to_the_tail() -> None:
    assert NOW - GRACE >= ROLLED > NOW - GRACE - timedelta(minutes=1)


# -- the task and the page ------------------------------------------------------------------


def test_the_task_rolls_up_and_beat_runs_it_every_minute(time_machine: Any) -> None:
    time_machine.move_to(NOW, tick=False)
    make_decision(created_at=NOW - timedelta(hours=1))

    result = rollup_decisions.delay().get()

    assert result["rolled_until"] == ROLLED.isoformat()
    assert DecisionRollup.objects.filter(granularity="minute").count() == 1
    entry = settings.CELERY_BEAT_SCHEDULE["rollup-decisions"]
    assert entry == {"task": "routing.tasks.rollup_decisions", "schedule": 60.0}


def test_the_overview_from_rollups_costs_the_same_queries(
    viewer_user: Any,
    django_assert_num_queries: Any,
    monkeypatch: pytest.MonkeyPatch,
    time_machine: Any,
) -> None:
    time_machine.move_to(NOW, tick=False)
    make_budget()
    seed(50)
    decisions_rollup(NOW)
    web = Client()
    web.force_login(viewer_user)
    current_snapshot()
    monkeypatch.setattr("routing.snapshot.CONFIG_VERSION_TTL", 3600.0)

    with django_assert_num_queries(12):
        # session, user, groups; the runtime state (budgets and the health panel's
        # cooldowns); the watermark; strategies; spend; attempts; privacy; latency;
        # fallback tax; the model health panel's ModelHealth rows.
        response = web.get("/?days=30", HTTP_HX_REQUEST="true")

    assert response.status_code == 200


def test_a_page_for_a_viewer_without_decisions_rolls_nothing_and_still_renders() -> None:
    web = Client()
    web.force_login(make_user(role="viewer"))

    assert web.get("/").status_code == 200
    assert rollup_watermark() is None
