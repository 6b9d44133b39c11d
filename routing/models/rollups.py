"""Rollups of the decision table: what the dashboard reads instead of millions of rows.

`routing.services.rollups` writes them from the decisions, one closed bucket range at a
time (a DELETE and an INSERT ... SELECT in one transaction), so a run can be repeated
or overlap another without counting anything twice. Every table has a row per bucket
(a UTC minute, hour or day) and dimension values, and sums that add up across buckets:
a week is the sum of its days, today the sum of its closed hours and minutes.

Minute rows are pruned after SWITCHBOARD_ROLLUP_MINUTE_RETENTION_DAYS; hour and day
rows are kept, also after the decisions they sum have been deleted by the retention.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from routing.models.budgets import SPEND


class RollupGranularity(models.TextChoices):
    MINUTE = "minute", "Minute"
    HOUR = "hour", "Hour"
    DAY = "day", "Day"


def _granularity_valid(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(granularity__in=RollupGranularity.values), name=name)


class DecisionRollup(models.Model):
    """The decisions of one bucket with the same agent, strategy, outcome, answering
    model and provider: how many, what they cost (answers and fallback tax), their
    tokens, and how many were cache hits, carried PII, were forced local, or were
    refused for privacy. "PII that reached a cloud model" is `with_pii` on rows whose
    `model_used` is not a local model of the registry, decided when it is read."""

    granularity = models.CharField(max_length=6, choices=RollupGranularity.choices)
    bucket_start = models.DateTimeField()
    agent_key = models.CharField(max_length=64, blank=True)
    strategy = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=8)
    model_used = models.CharField(max_length=128, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    decisions = models.PositiveIntegerField()
    cost_usd = models.DecimalField(**SPEND)
    fallback_tax_usd = models.DecimalField(**SPEND)
    prompt_tokens = models.PositiveBigIntegerField()
    completion_tokens = models.PositiveBigIntegerField()
    cached = models.PositiveIntegerField()
    with_pii = models.PositiveIntegerField()
    forced_local = models.PositiveIntegerField()
    # Refused while carrying PII or restricted to local models.
    refused_privacy = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # Also the index every read uses: granularity, then a bucket range.
            models.UniqueConstraint(
                fields=[
                    "granularity",
                    "bucket_start",
                    "agent_key",
                    "strategy",
                    "outcome",
                    "model_used",
                    "provider",
                ],
                name="decision_rollup_key",
            ),
            _granularity_valid("decision_rollup_granularity_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.decisions} decisions"


class AttemptRollup(models.Model):
    """The attempts made on one model in one bucket that ended the same way:
    `reason_bucket` is "" for an accepted answer, else the overview's rejection-reason
    bucket (routing.rejection_reasons). A model's fallback rate is the sum of its
    rejected attempts over the sum of all its attempts."""

    granularity = models.CharField(max_length=6, choices=RollupGranularity.choices)
    bucket_start = models.DateTimeField()
    model = models.CharField(max_length=128)
    reason_bucket = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "bucket_start", "model", "reason_bucket"],
                name="attempt_rollup_key",
            ),
            _granularity_valid("attempt_rollup_granularity_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.model} {self.attempts}"


class PiiTypeRollup(models.Model):
    """How many decisions of one bucket carried one type of personal data (a decision
    with two e-mail addresses counts once)."""

    granularity = models.CharField(max_length=6, choices=RollupGranularity.choices)
    bucket_start = models.DateTimeField()
    pii_type = models.CharField(max_length=64)
    decisions = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "bucket_start", "pii_type"], name="pii_type_rollup_key"
            ),
            _granularity_valid("pii_type_rollup_granularity_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.pii_type}"


class LatencyRollup(models.Model):
    """A latency histogram: how many answers of one model in one bucket (answered, not
    from the cache) took from `lower_ms` up to the next bin's lower bound. The bins are
    fixed (routing.rollup_sql.LATENCY_BIN_EDGES_MS: 8 per doubling), so histograms add
    up across buckets and a percentile read from them is within one bin of the exact
    one: exact below 16 ms, within 9.1% above."""

    granularity = models.CharField(max_length=6, choices=RollupGranularity.choices)
    bucket_start = models.DateTimeField()
    model = models.CharField(max_length=128)
    lower_ms = models.PositiveIntegerField()
    answers = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "bucket_start", "model", "lower_ms"],
                name="latency_rollup_key",
            ),
            _granularity_valid("latency_rollup_granularity_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.model} >={self.lower_ms}ms"


class RollupWatermark(models.Model):
    """How far a rollup has got: every decision created before `rolled_until` is in its
    minute, hour and day rows (closed buckets only); readers take what comes after it
    from the decision table. Its row lock serialises concurrent runs."""

    name = models.CharField(max_length=32, unique=True)
    rolled_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} rolled until {self.rolled_until}"
