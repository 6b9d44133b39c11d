"""Background work the API hands to Celery and people watch: batch routing jobs, and
what the health probes last saw of each model."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# A job in one of these may still change; the others are final (and pruned in time).
BATCH_ACTIVE = (BatchStatus.QUEUED, BatchStatus.RUNNING)
BATCH_FINISHED = (BatchStatus.DONE, BatchStatus.FAILED, BatchStatus.CANCELLED)


class BatchJob(models.Model):
    """A batch of route requests submitted at once (`POST /api/route/batch`) and routed
    one by one by a worker. Progress is the count of its items that have been routed
    (items of a cancelled job that were never routed are not counted)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    api_key = models.ForeignKey(
        "routing.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.QUEUED
    )
    total = models.PositiveIntegerField()
    # Maintained by the worker as items finish, so progress is one row read.
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BatchStatus.values), name="batch_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(completed__lte=models.F("total")), name="batch_progress_bounded"
            ),
        ]
        indexes = [models.Index(fields=["-created_at", "-id"], name="batch_recent")]

    def __str__(self) -> str:
        return f"batch {self.public_id} {self.status} {self.completed}/{self.total}"

    @property
    def unrouted(self) -> int:
        """Requests not routed: not yet, or (once it is cancelled) never."""
        return self.total - self.completed


class BatchItem(models.Model):
    """One route request of a batch, its HTTP-equivalent status and response body."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField()
    request = models.JSONField()
    # Null until routed; then the status `/api/route` would have answered with.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    decision_id = models.UUIDField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="batch_item_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.index} {self.status_code or '-'}"


class ModelHealth(models.Model):
    """What the last health probe saw of one model's endpoint. The probe also sets or
    clears the model's cooldown in the shared cache, which is what routing reads."""

    model = models.OneToOneField(
        "routing.LLMModel", on_delete=models.CASCADE, related_name="health"
    )
    healthy = models.BooleanField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "model health"

    def __str__(self) -> str:
        return f"{self.model_id} {'up' if self.healthy else 'down'}"
