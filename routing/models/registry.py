"""The model registry: providers, models, seed 003's task table and fallback chain."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from controlplane.lib.validators import (
    ENV_VAR_PATTERN,
    validate_env_var_name,
    validate_http_url,
    validate_identifier_list,
    validate_key,
    validate_provider_name,
)
from routing.choices import TASK_ROUTE_BANDS, ModelType, ProviderKind, Tier

MONEY = {"max_digits": 14, "decimal_places": 8}


class Provider(models.Model):
    """One upstream endpoint family (an OpenAI-compatible API, Anthropic, an Ollama host,
    or the simulated provider). Holds the NAME of the environment variable with its API
    key; the secret itself never reaches the database."""

    name = models.CharField(max_length=64, unique=True, validators=[validate_provider_name])
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    tier = models.CharField(max_length=16, choices=Tier.choices)
    base_url = models.CharField(blank=True, max_length=500, validators=[validate_http_url])
    api_key_env = models.CharField(
        "API key environment variable",
        max_length=128,
        blank=True,
        validators=[validate_env_var_name],
        help_text="The name of the environment variable holding the key, e.g. OPENAI_API_KEY.",
    )
    timeout_s = models.FloatField("default timeout (s)", default=30.0)
    # Seed 003 provider fields: its default model, role -> model map and request limit.
    default_model = models.CharField(max_length=200, blank=True)
    model_roles = models.JSONField(default=dict, blank=True)
    rate_limit_rpm = models.PositiveIntegerField("requests per minute", null=True, blank=True)
    # Adapter options: the simulated provider's latency_ms and failure_rate, Anthropic's
    # API version. Never a secret (those stay in environment variables).
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ProviderKind.values), name="provider_kind_valid"
            ),
            models.CheckConstraint(condition=Q(tier__in=Tier.values), name="provider_tier_valid"),
            models.CheckConstraint(condition=Q(timeout_s__gt=0), name="provider_timeout_positive"),
            models.CheckConstraint(
                condition=Q(api_key_env="") | Q(api_key_env__regex=ENV_VAR_PATTERN),
                name="provider_api_key_env_is_a_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LLMModel(models.Model):
    """One entry of the model registry (seed 002's models.yaml): a model a request can be
    routed to, with its prices, limits and capabilities."""

    key = models.CharField(max_length=128, unique=True, validators=[validate_key])
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="models")
    model_id = models.CharField("upstream model id", max_length=200)
    type = models.CharField(max_length=8, choices=ModelType.choices)
    capabilities = models.JSONField(default=list, blank=True, validators=[validate_identifier_list])
    # NULL means "price unknown", which is not the same as free: the engine must not
    # treat an unpriced cloud model as costing $0.
    cost_input_per_1k = models.DecimalField(null=True, blank=True, **MONEY)
    cost_output_per_1k = models.DecimalField(null=True, blank=True, **MONEY)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    resource_requirements = models.JSONField(default=dict, blank=True)
    model_path = models.CharField(max_length=500, blank=True)
    endpoint = models.CharField(
        blank=True,
        max_length=500,
        validators=[validate_http_url],
        help_text="Overrides the provider's base URL (local servers).",
    )
    timeout_s = models.FloatField(
        "timeout (s)", null=True, blank=True, help_text="Empty: the provider's default."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "routing_model"
        verbose_name = "model"
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model_id"], name="model_unique_upstream_id"
            ),
            models.CheckConstraint(condition=Q(type__in=ModelType.values), name="model_type_valid"),
            models.CheckConstraint(
                condition=Q(cost_input_per_1k__isnull=True) | Q(cost_input_per_1k__gte=0),
                name="model_input_cost_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(cost_output_per_1k__isnull=True) | Q(cost_output_per_1k__gte=0),
                name="model_output_cost_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(timeout_s__isnull=True) | Q(timeout_s__gt=0),
                name="model_timeout_positive",
            ),
            models.CheckConstraint(
                condition=Q(tokens_per_second__isnull=True) | Q(tokens_per_second__gt=0),
                name="model_tokens_per_second_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class TaskRoute(models.Model):
    """One cell entry of seed 003's task type x complexity table: for this task type and
    band, try this provider (or this provider's model) at this position."""

    task_type = models.CharField(max_length=64, validators=[validate_key])
    band = models.CharField(max_length=16, choices=[(b, b) for b in TASK_ROUTE_BANDS])
    position = models.PositiveSmallIntegerField()
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["task_type", "band", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["task_type", "band", "position"], name="task_route_unique_position"
            ),
            models.CheckConstraint(
                condition=Q(band__in=TASK_ROUTE_BANDS), name="task_route_band_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_type}/{self.band}#{self.position}"


class FallbackStep(models.Model):
    """Seed 003's global fallback chain: providers to try, in order, when a chain runs out."""

    position = models.PositiveSmallIntegerField(unique=True)
    provider = models.OneToOneField(Provider, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.position}: {self.provider_id}"
