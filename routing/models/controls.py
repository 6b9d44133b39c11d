"""Runtime controls: time-limited overrides, force-local mode, the config revision.

An override is *open* until `ended_at` is set. It is *in force* while open and
`starts_at <= now < expires_at`. The database allows one open override per target; the
expiry task closes expired ones, and creating a new override closes the previous one,
so an override past its expiry never blocks the next.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from routing.choices import OverrideScope
from routing.models.policy import Strategy
from routing.models.registry import LLMModel


class TimeLimitedOverride(models.Model):
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who asked, kept even when the user is deleted (or when it was an API key).
    author_label = models.CharField(max_length=150)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    @classmethod
    def time_constraints(cls, prefix: str) -> list[models.BaseConstraint]:
        return [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("starts_at")),
                name=f"{prefix}_expires_after_start",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("starts_at")),
                name=f"{prefix}_ends_after_start",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name=f"{prefix}_has_reason"),
        ]


class StrategyOverride(TimeLimitedOverride):
    """A strategy switched for a while, globally or for one agent; reverts at expiry."""

    scope = models.CharField(max_length=8, choices=OverrideScope.choices)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            *TimeLimitedOverride.time_constraints("strategy_override"),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=False), name="strategy_override_has_expiry"
            ),
            models.CheckConstraint(
                condition=Q(scope=OverrideScope.GLOBAL, agent__isnull=True)
                | Q(scope=OverrideScope.AGENT, agent__isnull=False),
                name="strategy_override_scope_matches_agent",
            ),
            models.UniqueConstraint(
                fields=["scope"],
                condition=Q(scope=OverrideScope.GLOBAL, ended_at__isnull=True),
                name="strategy_override_one_open_global",
            ),
            models.UniqueConstraint(
                fields=["agent"],
                condition=Q(scope=OverrideScope.AGENT, ended_at__isnull=True),
                name="strategy_override_one_open_per_agent",
            ),
        ]
        indexes = [models.Index(fields=["ended_at", "expires_at"], name="strategy_override_open")]

    def __str__(self) -> str:
        target = (self.agent_id and f"agent {self.agent_id}") or "global"
        return f"{self.strategy_id} ({target}) until {self.expires_at:%Y-%m-%d %H:%M}"


class AgentModelOverride(TimeLimitedOverride):
    """An agent pinned to a model, until its expiry or for good when it has none."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            *TimeLimitedOverride.time_constraints("agent_model_override"),
            models.UniqueConstraint(
                fields=["agent"],
                condition=Q(ended_at__isnull=True),
                name="agent_model_override_one_open_per_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} -> {self.model_id}"


class TaskOverride(TimeLimitedOverride):
    """A task id forced onto one model (seed 002's POST /api/tasks/{id}/routing)."""

    task_id = models.CharField(max_length=200)
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            *TimeLimitedOverride.time_constraints("task_override"),
            models.UniqueConstraint(
                fields=["task_id"],
                condition=Q(ended_at__isnull=True),
                name="task_override_one_open_per_task",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.task_id} -> {self.model_id}"


class ControlState(models.Model):
    """The single row of runtime switches: force-local mode, who set it, why, until when."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    force_local = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=150, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "control state"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="control_state_singleton"),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(force_local=True),
                name="control_state_expiry_only_when_on",
            ),
        ]

    def __str__(self) -> str:
        return "force-local ON" if self.force_local else "force-local off"


class ConfigRevision(models.Model):
    """The single row holding the configuration version. Every configuration change bumps
    it (in the same transaction), so any process can tell its cached snapshot is stale."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    version = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="config_revision_singleton")]

    def __str__(self) -> str:
        return f"config v{self.version}"
