"""Serializers of the registry CRUD and the read-only audit lists.

Related rows are named by their keys (a provider by name, a model, agent or strategy by
key), never by database ids. Writes run the model's own `full_clean`, so the database's
check and unique constraints answer 400 with field errors instead of failing on save.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import serializers
from rest_framework.settings import api_settings

from agents.models import Agent
from routing.choices import BudgetScope
from routing.models import (
    ApiKey,
    Budget,
    ChangeLogEntry,
    Decision,
    LLMModel,
    Provider,
    RoutingRule,
    Strategy,
)

MSG_TARGET_NEEDED = "A '{scope}' budget needs a target: the {noun} it limits."
MSG_TARGET_UNEXPECTED = "A global budget has no target."
MSG_UNKNOWN_TARGET = "No {noun} '{target}'."
MSG_NO_SCOPES = "Give at least one scope."

# Budget scope -> (the column and noun of its target, the target's model, its key field).
_BUDGET_TARGETS: dict[str, tuple[str, type[models.Model], str]] = {
    BudgetScope.AGENT: ("agent", Agent, "key"),
    BudgetScope.PROVIDER: ("provider", Provider, "name"),
    BudgetScope.MODEL: ("model", LLMModel, "key"),
}


def _model_by_key(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="key", queryset=LLMModel.objects.all(), **kwargs)


def _agent_by_key(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(slug_field="key", queryset=Agent.objects.all(), **kwargs)


class CleanModelSerializer(serializers.ModelSerializer):
    """Validates the row the write would produce with the model's `full_clean`: field
    validators, `clean()`, and the CheckConstraints and UniqueConstraints."""

    # Model field name -> the serializer field its errors belong to.
    error_fields: dict[str, str] = {}

    def get_validators(self) -> list[Any]:
        # DRF would add its own checks of the UniqueConstraints, which demand every field
        # a constraint names even when its condition does not apply (an agent for a
        # global rule). full_clean below checks them as the database does.
        return []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = copy.copy(self.instance) if self.instance is not None else self.Meta.model()
        for name, value in attrs.items():
            setattr(candidate, name, value)
        try:
            candidate.full_clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(self._field_errors(exc)) from exc
        return attrs

    def _field_errors(self, exc: DjangoValidationError) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for name, messages in exc.message_dict.items():
            if name == NON_FIELD_ERRORS:
                field = api_settings.NON_FIELD_ERRORS_KEY
            else:
                field = self.error_fields.get(name, name)
            errors.setdefault(field, []).extend(messages)
        return errors


class ProviderSerializer(CleanModelSerializer):
    class Meta:
        model = Provider
        fields = [
            "name",
            "kind",
            "tier",
            "base_url",
            "api_key_env",
            "timeout_s",
            "default_model",
            "model_roles",
            "rate_limit_rpm",
            "options",
            "created_at",
            "updated_at",
        ]


class LLMModelSerializer(CleanModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="name", queryset=Provider.objects.all())

    class Meta:
        model = LLMModel
        fields = [
            "key",
            "provider",
            "model_id",
            "type",
            "capabilities",
            "cost_input_per_1k",
            "cost_output_per_1k",
            "context_window",
            "requests_per_minute",
            "tokens_per_minute",
            "tokens_per_second",
            "resource_requirements",
            "model_path",
            "endpoint",
            "timeout_s",
            "enabled",
            "created_at",
            "updated_at",
        ]


class AgentSerializer(CleanModelSerializer):
    primary_model = _model_by_key(required=False, allow_null=True)
    fallback_model = _model_by_key(required=False, allow_null=True)
    local_alternative = _model_by_key(required=False, allow_null=True)
    budget_mode_model = _model_by_key(required=False, allow_null=True)

    class Meta:
        model = Agent
        fields = [
            "key",
            "name",
            "description",
            "primary_model",
            "fallback_model",
            "local_alternative",
            "budget_mode_model",
            "capabilities_required",
            "default_privacy_level",
            "created_at",
            "updated_at",
        ]


class RoutingRuleSerializer(CleanModelSerializer):
    """The condition is checked by the model field's validator (routing.conditions), whose
    message starts with the position of the problem: "line L, column C: ..."."""

    agent = _agent_by_key(required=False, allow_null=True)
    model = _model_by_key(required=False, allow_null=True)

    class Meta:
        model = RoutingRule
        fields = [
            "id",
            "scope",
            "agent",
            "name",
            "position",
            "condition",
            "action",
            "model",
            "enabled",
            "created_at",
            "updated_at",
        ]


class StrategySerializer(CleanModelSerializer):
    class Meta:
        model = Strategy
        fields = [
            "key",
            "description",
            "prefer_local",
            "prefer_cloud",
            "allow_cloud",
            "required_model_type",
            "cloud_budget_per_day",
            "complexity_threshold",
            "confidence_threshold",
            "parallel_requests",
            "cache_responses",
            "cloud_for_complex_tasks",
            "local_for_routine_tasks",
            "dynamic_routing",
            "weights",
            "created_at",
            "updated_at",
        ]


class BudgetSerializer(CleanModelSerializer):
    """A budget names its target by key: an agent key, a provider name or a model key,
    as its scope says; a global budget's target is ""."""

    target = serializers.CharField(
        source="target_key", required=False, allow_blank=True, allow_null=True
    )
    error_fields = {"agent": "target", "provider": "target", "model": "target"}

    class Meta:
        model = Budget
        fields = [
            "id",
            "scope",
            "target",
            "period",
            "limit_usd",
            "per_request_limit_usd",
            "warning_threshold",
            "enabled",
            "updated_at",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None or {"scope", "target_key"} & attrs.keys():
            attrs.update(self._resolve_target(attrs))
        attrs.pop("target_key", None)
        return super().validate(attrs)

    def _resolve_target(self, attrs: dict[str, Any]) -> dict[str, models.Model | None]:
        """The agent, provider and model columns for the scope and target given (either
        may be left out of a partial update; the other keeps its stored value)."""
        scope = attrs.get("scope", self.instance.scope if self.instance else None)
        target = attrs.get("target_key")
        if target is None and "scope" not in attrs and self.instance is not None:
            target = self.instance.target_key
        columns: dict[str, models.Model | None] = {"agent": None, "provider": None, "model": None}
        if scope == BudgetScope.GLOBAL:
            if target:
                raise serializers.ValidationError({"target": MSG_TARGET_UNEXPECTED})
            return columns
        noun, target_model, key_field = _BUDGET_TARGETS[scope]
        if not target:
            raise serializers.ValidationError(
                {"target": MSG_TARGET_NEEDED.format(scope=scope, noun=noun)}
            )
        row = target_model._default_manager.filter(**{key_field: target}).first()
        if row is None:
            raise serializers.ValidationError(
                {"target": MSG_UNKNOWN_TARGET.format(noun=noun, target=target)}
            )
        columns[noun] = row
        return columns


class ApiKeySerializer(CleanModelSerializer):
    """A key as lists show it: never its secret, nor the hash of it."""

    default_agent = _agent_by_key(required=False, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "name",
            "prefix",
            "default_agent",
            "scopes",
            "is_active",
            "created_at",
            "created_by",
            "last_used_at",
        ]
        read_only_fields = ["last_used_at"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The answer to creating a key (documentation: the view adds `key` to the dict)."""

    key = serializers.CharField(
        read_only=True, help_text="The secret, sb_<prefix>_<secret>. Shown this once only."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyCreateSerializer(serializers.ModelSerializer):
    """The input of a new key; routing.services.api_key_create makes the secret."""

    default_agent = _agent_by_key(required=False, allow_null=True)

    class Meta:
        model = ApiKey
        fields = ["name", "default_agent", "scopes"]

    def validate_scopes(self, value: list[str]) -> list[str]:
        if not value:
            raise serializers.ValidationError(MSG_NO_SCOPES)
        return value


# -- the audit tables (read-only) -------------------------------------------------------

DECISION_LIST_FIELDS = [
    "public_id",
    "created_at",
    "agent",
    "model_used",
    "provider",
    "outcome",
    "error_code",
    "strategy",
    "complexity",
    "task_type",
    "privacy_level",
    "pii_types",
    "local_only",
    "rule",
    "warning_level",
    "chain",
    "cost_usd",
    "fallback_tax_usd",
    "latency_ms",
    "cached",
]


class DecisionListSerializer(serializers.ModelSerializer):
    agent = serializers.CharField(source="agent_key", read_only=True)

    class Meta:
        model = Decision
        fields = DECISION_LIST_FIELDS
        read_only_fields = fields


class DecisionDetailSerializer(DecisionListSerializer):
    usage = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            *DECISION_LIST_FIELDS,
            "task_id",
            "session_id",
            "api_key_name",
            "strategy_source",
            "complexity_score",
            "config_version",
            "attempts",
            "trace",
            "features",
            "usage",
            "prompt_excerpt",
        ]
        read_only_fields = fields

    def get_usage(self, decision: Decision) -> dict[str, Any]:
        return {
            "prompt_tokens": decision.prompt_tokens,
            "completion_tokens": decision.completion_tokens,
            "total_tokens": decision.prompt_tokens + decision.completion_tokens,
            "estimated": decision.usage_estimated,
        }


class DecisionAdminDetailSerializer(DecisionDetailSerializer):
    """Admins also see the full prompt, when a setting asked for it to be kept."""

    class Meta(DecisionDetailSerializer.Meta):
        fields = [*DecisionDetailSerializer.Meta.fields, "prompt_full"]
        read_only_fields = fields


class ChangeLogEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = ChangeLogEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "source",
            "action",
            "target_type",
            "target_key",
            "before",
            "after",
            "reason",
        ]
        read_only_fields = fields
