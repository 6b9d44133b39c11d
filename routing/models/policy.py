"""Routing policy: strategies, factor weights, rules, and the settings that pick them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from controlplane.lib.validators import validate_key
from routing.choices import ROUTING_FACTORS, ModelType, RuleAction, RuleScope
from routing.conditions import check_condition
from routing.models.registry import MONEY, LLMModel


def validate_weights(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Expected a mapping of routing factor to weight.")
    unknown = sorted(set(value) - set(ROUTING_FACTORS))
    if unknown:
        raise ValidationError(
            "Unknown routing factor(s): %(names)s. Known: %(known)s.",
            params={"names": ", ".join(unknown), "known": ", ".join(ROUTING_FACTORS)},
        )
    bad = [
        k
        for k, w in value.items()
        if not isinstance(w, int | float) or isinstance(w, bool) or w < 0
    ]
    if bad:
        raise ValidationError(
            "Weights must be numbers >= 0: %(names)s.", params={"names": ", ".join(bad)}
        )


def validate_condition(value: str) -> None:
    error = check_condition(value)
    if error is not None:
        raise ValidationError(str(error), code="condition")


class Strategy(models.Model):
    """A routing strategy (seed 002's routing.yaml): the parameters and factor weights
    the engine scores candidates with. Built in: cost_optimized, performance_optimized,
    privacy_first, balanced; operators may add their own. A NULL parameter means the
    strategy does not say, which the engine reads as the product default."""

    key = models.CharField(max_length=64, unique=True, validators=[validate_key])
    description = models.TextField(blank=True)
    prefer_local = models.BooleanField(null=True, blank=True)
    prefer_cloud = models.BooleanField(null=True, blank=True)
    allow_cloud = models.BooleanField(null=True, blank=True)
    required_model_type = models.CharField(max_length=8, choices=ModelType.choices, blank=True)
    cloud_budget_per_day = models.DecimalField(null=True, blank=True, **MONEY)
    complexity_threshold = models.PositiveSmallIntegerField(null=True, blank=True)
    confidence_threshold = models.FloatField(null=True, blank=True)
    parallel_requests = models.BooleanField(null=True, blank=True)
    cache_responses = models.BooleanField(null=True, blank=True)
    cloud_for_complex_tasks = models.BooleanField(null=True, blank=True)
    local_for_routine_tasks = models.BooleanField(null=True, blank=True)
    dynamic_routing = models.BooleanField(null=True, blank=True)
    # Empty: use the global routing factors' weights.
    weights = models.JSONField(default=dict, blank=True, validators=[validate_weights])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "strategies"
        constraints = [
            models.CheckConstraint(
                condition=Q(cloud_budget_per_day__isnull=True) | Q(cloud_budget_per_day__gte=0),
                name="strategy_cloud_budget_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(complexity_threshold__isnull=True)
                | Q(complexity_threshold__gte=1, complexity_threshold__lte=10),
                name="strategy_complexity_threshold_1_to_10",
            ),
            models.CheckConstraint(
                condition=Q(confidence_threshold__isnull=True)
                | Q(confidence_threshold__gte=0, confidence_threshold__lte=1),
                name="strategy_confidence_threshold_0_to_1",
            ),
            models.CheckConstraint(
                condition=Q(required_model_type="") | Q(required_model_type__in=ModelType.values),
                name="strategy_required_model_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class RoutingFactor(models.Model):
    """The default weight of one of seed 002's five routing factors."""

    name = models.CharField(max_length=32, unique=True, choices=[(f, f) for f in ROUTING_FACTORS])
    weight = models.FloatField()
    calculation = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gte=0), name="routing_factor_weight_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(name__in=ROUTING_FACTORS), name="routing_factor_name_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.weight}"


class RoutingRule(models.Model):
    """A condition and what to do when it holds. Global rules (seed 002's global_rules)
    have a name; agent rules are an ordered list where the first match wins. The
    condition is stored as written and checked by the safe condition compiler on save."""

    scope = models.CharField(max_length=8, choices=RuleScope.choices)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="rules"
    )
    name = models.CharField(max_length=100, blank=True)
    position = models.PositiveIntegerField(default=0)
    condition = models.TextField(validators=[validate_condition])
    action = models.CharField(max_length=32, choices=RuleAction.choices)
    model = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "agent_id", "position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope=RuleScope.GLOBAL, agent__isnull=True)
                | Q(scope=RuleScope.AGENT, agent__isnull=False),
                name="rule_scope_matches_agent",
                violation_error_message="Agent rules need an agent; global rules have none.",
            ),
            models.CheckConstraint(
                condition=Q(action__in=RuleAction.values), name="rule_action_valid"
            ),
            models.CheckConstraint(
                condition=~Q(action=RuleAction.USE_MODEL) | Q(model__isnull=False),
                name="rule_use_model_names_a_model",
            ),
            models.UniqueConstraint(
                fields=["agent", "position"],
                condition=Q(scope=RuleScope.AGENT),
                name="rule_agent_position_unique",
            ),
            models.UniqueConstraint(
                fields=["position"],
                condition=Q(scope=RuleScope.GLOBAL),
                name="rule_global_position_unique",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(scope=RuleScope.GLOBAL) & ~Q(name=""),
                name="rule_global_name_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.condition

    def clean(self) -> None:
        if self.action == RuleAction.USE_MODEL and self.model_id is None:
            raise ValidationError({"model": "A 'use a model' rule must name the model."})


class RoutingSettings(models.Model):
    """The single row of global routing settings: which strategy applies by default."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    default_strategy = models.ForeignKey(
        Strategy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "routing settings"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="routing_settings_singleton")]

    def __str__(self) -> str:
        return f"default strategy: {self.default_strategy_id or 'balanced'}"


class EnvironmentProfile(models.Model):
    """Seed 002's environment overrides (config/environments/<name>.yaml). At most one is
    active: the one SWITCHBOARD_ENVIRONMENT named when the configuration was imported.
    A NULL override leaves the base configuration alone."""

    name = models.CharField(max_length=64, unique=True, validators=[validate_key])
    active = models.BooleanField(default=False)
    max_cloud_spend_per_day = models.DecimalField(null=True, blank=True, **MONEY)
    require_local_for_pii = models.BooleanField(null=True, blank=True)
    force_local_models = models.BooleanField(null=True, blank=True)
    verbose_routing_logs = models.BooleanField(null=True, blank=True)
    default_strategy = models.ForeignKey(
        Strategy, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="environment_one_active"
            ),
            models.CheckConstraint(
                condition=Q(max_cloud_spend_per_day__isnull=True)
                | Q(max_cloud_spend_per_day__gte=0),
                name="environment_spend_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Experiment(models.Model):
    """An A/B split for one agent: requests go to its variants' models by weight, sticky
    per session (or per task id), so one conversation stays on one model."""

    class StickyBy(models.TextChoices):
        SESSION = "session", "Session"
        TASK = "task", "Task id"

    key = models.CharField(max_length=64, unique=True, validators=[validate_key])
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="experiments")
    sticky_by = models.CharField(max_length=8, choices=StickyBy.choices, default=StickyBy.SESSION)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent"], condition=Q(enabled=True), name="experiment_one_enabled_per_agent"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class ExperimentVariant(models.Model):
    """One arm of an experiment: a model and its share of the traffic."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="+")
    weight = models.FloatField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weight__gt=0), name="experiment_variant_weight_positive"
            ),
            models.UniqueConstraint(
                fields=["experiment", "model"], name="experiment_variant_unique_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.experiment_id}: {self.model_id} x{self.weight}"
