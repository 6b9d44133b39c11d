"""Prometheus metrics: what every routed request did, and how spend, budgets and model
health stand right now.

Request metrics are prometheus_client counters and histograms, moved once per request
where its audit row is written (`decision_counted`), in memory: no I/O on the request
path. With PROMETHEUS_MULTIPROC_DIR set (several web worker processes) prometheus_client
keeps them in files in that directory and `exposition()` sums every process's values.

State metrics (spend today, budget limits and use, cooldowns, health, config version)
are read from the database and the cache when /metrics is scraped (`StateCollector`),
so they are the same whichever worker answers.

Every label value comes from a bounded set: registry keys, agents that exist, outcomes,
and fallback reasons bucketed by `fallback_reason` (never the raw message, which holds
times and upstream text).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from routing.models import Decision, ModelHealth

# The `_created` companion series double what is scraped and say nothing useful here.
prometheus_client.disable_created_metrics()

NONE = "none"  # label value for "no agent" / "no model answered"
UNKNOWN_AGENT = "unknown"  # an agent the registry does not know (refused); never echoed

REQUESTS = Counter(
    "switchboard_requests",
    "Routed requests by agent, model that answered and outcome "
    "(success, failed, refused, dry_run).",
    ["agent", "model", "outcome"],
)
REQUEST_LATENCY = Histogram(
    "switchboard_request_latency_seconds",
    "Time spent calling models for a request (all attempts), by the model that answered.",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0),
)
FALLBACKS = Counter(
    "switchboard_fallbacks",
    "Attempts a model lost (the request fell back or failed), by model and reason.",
    ["model", "reason"],
)
CACHE_HITS = Counter(
    "switchboard_response_cache_hits", "Requests answered from the response cache."
)

# First match wins: a reason's start (or a phrase in it) -> its bucket.
_REASON_BUCKETS: tuple[tuple[str, str], ...] = (
    ("rate limited", "rate_limited"),
    ("http_429", "rate_limited"),
    ("first_token_timeout", "first_token_timeout"),
    ("timeout", "timeout"),
    ("connect", "connect"),
    ("http_5xx", "http_5xx"),
    ("http_4xx", "http_4xx"),
    ("protocol", "protocol"),
    ("cooling down", "cooling_down"),
    ("no api key", "no_api_key"),
    ("privacy", "privacy"),
    ("empty answer", "empty_answer"),
    ("answer cut off", "truncated"),
    ("refusal", "refusal"),
    ("invalid json", "invalid_output"),
    ("schema violation", "invalid_output"),
    ("stream failed", "stream_failed"),
    ("client disconnected", "client_disconnected"),
    ("lost the hedge", "lost_hedge"),
    ("cancelled: lost the hedge", "lost_hedge"),
    ("cloud verification rejected", "verification_rejected"),
    ("verification", "verification_failed"),
)
FALLBACK_REASONS = frozenset(bucket for _, bucket in _REASON_BUCKETS) | {"other"}


def fallback_reason(reason: str | None) -> str:
    """The bounded bucket of an attempt's free-text reason."""
    text = (reason or "").strip().lower()
    for prefix, bucket in _REASON_BUCKETS:
        if text.startswith(prefix):
            return bucket
    return "other"


def _agent_label(row: Decision) -> str:
    if row.error_code == "unknown_agent":
        return UNKNOWN_AGENT  # the caller's string: unbounded, so never a label
    return row.agent_key or NONE


def decision_counted(row: Decision) -> None:
    """Count one recorded request. In-memory only: safe on the request path."""
    model = row.model_used or NONE
    REQUESTS.labels(_agent_label(row), model, row.outcome).inc()
    if row.outcome in ("success", "failed"):  # only these called any model
        REQUEST_LATENCY.labels(model).observe(row.latency_ms / 1000)
    if row.cached:
        CACHE_HITS.inc()
    for attempt in row.attempts:
        if attempt.get("outcome") != "success":
            FALLBACKS.labels(attempt["model"], fallback_reason(attempt.get("reason"))).inc()


# -- read when scraped ----------------------------------------------------------------------


class StateCollector(Collector):
    """Gauges computed at scrape time from the shared state (database and cache)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        # Imported here: the snapshot loader pulls in the whole engine, which the request
        # counters above do not need.
        from routing.snapshot import current_snapshot, load_runtime_state

        snapshot = current_snapshot()
        state = load_runtime_state(snapshot=snapshot, session_id=None, now=self.now)

        spend = GaugeMetricFamily(
            "switchboard_spend_usd_today",
            "USD spent today (UTC) per scope (global, agent, provider, model) and key.",
            labels=["scope", "key"],
        )
        for (scope, key, period), usd in sorted(state.spend.items()):
            if period == "day":
                spend.add_metric([scope, key], usd)
        yield spend

        limits = GaugeMetricFamily(
            "switchboard_budget_limit_usd",
            "Budget limit in USD per scope, key and period (day or month).",
            labels=["scope", "key", "period"],
        )
        used = GaugeMetricFamily(
            "switchboard_budget_used_ratio",
            "Share of the budget spent in its current period (1 = exhausted).",
            labels=["scope", "key", "period"],
        )
        for budget in snapshot.budgets:
            if budget.limit_usd is None:
                continue  # a per-request cap only
            labels = [budget.scope, budget.target, budget.period]
            limits.add_metric(labels, budget.limit_usd)
            spent = state.spend.get((budget.scope, budget.target, budget.period), 0.0)
            used.add_metric(labels, spent / budget.limit_usd if budget.limit_usd > 0 else 1.0)
        yield limits
        yield used

        cooldown = GaugeMetricFamily(
            "switchboard_model_cooldown",
            "1 while the model is cooling down (429, open circuit or failed health probe).",
            labels=["model"],
        )
        for key in sorted(snapshot.models):
            until = state.cooling_down.get(key)
            cooldown.add_metric([key], 1.0 if until is not None and until > self.now else 0.0)
        yield cooldown

        healthy = GaugeMetricFamily(
            "switchboard_model_healthy",
            "1 if the model passed its last health probe, 0 if it failed it.",
            labels=["model"],
        )
        for key, ok in _health_rows():
            healthy.add_metric([key], 1.0 if ok else 0.0)
        yield healthy

        yield GaugeMetricFamily(
            "switchboard_config_version",
            "The routing configuration version in force.",
            value=snapshot.version,
        )


def _health_rows() -> Iterable[tuple[str, bool]]:
    return ModelHealth.objects.order_by("model__key").values_list("model__key", "healthy")


class _ProcessMetrics(Collector):
    """This process's request metrics (single-process mode)."""

    def collect(self) -> Iterator[Metric]:
        return prometheus_client.REGISTRY.collect()


def exposition(now: datetime) -> bytes:
    """The whole /metrics body in the Prometheus text format."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # every worker's files, summed
    else:
        registry.register(_ProcessMetrics())
    registry.register(StateCollector(now))
    return generate_latest(registry)
