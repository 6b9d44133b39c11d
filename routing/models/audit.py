"""Append-only audit tables: one row per routed request, one per control change.

Nothing updates these rows: there is no update service and the admin shows them
read-only. Only the retention task deletes old decisions.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from routing.choices import ChangeSource, DecisionOutcome
from routing.models.budgets import SPEND


class Decision(models.Model):
    """One routed request, whatever became of it (answered, failed, refused before
    execution, or a dry run): the features it was decided on, the chain and trace,
    every attempt (model, outcome, reason, latency), usage, cost and latency."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    api_key = models.ForeignKey(
        "routing.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_name = models.CharField(max_length=100, blank=True)
    agent_key = models.CharField(max_length=64, blank=True)
    task_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=8, choices=DecisionOutcome.choices)
    error_code = models.CharField(max_length=40, blank=True)
    strategy = models.CharField(max_length=64, blank=True)
    strategy_source = models.CharField(max_length=100, blank=True)
    model_used = models.CharField(max_length=128, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    complexity = models.CharField(max_length=10, blank=True)
    complexity_score = models.PositiveSmallIntegerField(null=True, blank=True)
    task_type = models.CharField(max_length=64, blank=True)
    privacy_level = models.CharField(max_length=8, blank=True)
    pii_types = models.JSONField(default=list, blank=True)
    local_only = models.BooleanField(default=False)
    rule = models.CharField(max_length=200, blank=True)
    warning_level = models.CharField(max_length=10, blank=True)
    chain = models.JSONField(default=list, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    trace = models.JSONField(default=dict, blank=True)
    features = models.JSONField(default=dict, blank=True)
    config_version = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    usage_estimated = models.BooleanField(default=False)
    cost_usd = models.DecimalField(default=0, **SPEND)
    # What rejected attempts cost although their answer was thrown away.
    fallback_tax_usd = models.DecimalField(default=0, **SPEND)
    latency_ms = models.PositiveIntegerField(default=0)
    cached = models.BooleanField(default=False)
    # PII masked; the full prompt is kept only when a setting asks for it.
    prompt_excerpt = models.TextField(blank=True)
    # NULL (not stored) differs from "" (an empty prompt).
    prompt_full = models.TextField(null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=DecisionOutcome.values), name="decision_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(cost_usd__gte=0, fallback_tax_usd__gte=0),
                name="decision_cost_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="decision_recent"),
            models.Index(fields=["agent_key", "-created_at"], name="decision_by_agent"),
            models.Index(fields=["model_used", "-created_at"], name="decision_by_model"),
            models.Index(fields=["outcome", "-created_at"], name="decision_by_outcome"),
            models.Index(fields=["strategy", "-created_at"], name="decision_by_strategy"),
            # Few decisions have PII; this partial index keeps `pii=true` lists a short scan.
            models.Index(
                fields=["-created_at", "-id"], condition=~Q(pii_types=[]), name="decision_with_pii"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.outcome} {self.model_used or '-'}"


class ChangeLogEntry(models.Model):
    """One change to a control setting: who, from where, what before and after, and why."""

    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    source = models.CharField(max_length=10, choices=ChangeSource.choices)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64)
    target_key = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "change log entry"
        verbose_name_plural = "change log"
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=ChangeSource.values), name="change_log_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="change_log_recent"),
            models.Index(fields=["target_type", "target_key"], name="change_log_target"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_type}:{self.target_key}"


class ConfigSnapshot(models.Model):
    """The routing configuration exactly as the engine saw it at one version, kept so a
    stored decision can be re-run on its own configuration (replay) or a changed one
    (what-if). Written once per version by the snapshot loader; never updated."""

    version = models.PositiveBigIntegerField(unique=True)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"config v{self.version}"
