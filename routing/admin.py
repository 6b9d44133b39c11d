"""Django admin for routing configuration, controls and the (read-only) audit tables.

Every save or delete of a configuration or control row through the admin goes through
routing.services.registry_writes, the API's and the dashboard's path too: a change-log
entry (secret fields left out) and a new configuration version in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from routing.choices import ChangeSource
from routing.models import (
    AgentModelOverride,
    ApiKey,
    BatchItem,
    BatchJob,
    Budget,
    ChangeLogEntry,
    ConfigSnapshot,
    ControlState,
    Decision,
    EnvironmentProfile,
    Experiment,
    ExperimentVariant,
    FallbackStep,
    LLMModel,
    ModelHealth,
    Provider,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    SessionTokenBudget,
    Strategy,
    StrategyOverride,
    TaskOverride,
    TaskRoute,
)
from routing.services import api_key_generate, api_key_hash
from routing.services.registry_writes import registry_delete, registry_save, registry_write_many


def _write_context(request: HttpRequest) -> dict[str, Any]:
    return {"actor": request.user, "source": ChangeSource.ADMIN}


class ChangeLoggedAdmin(admin.ModelAdmin):
    """Writes through the registry service, as request.user from the admin."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        registry_save(obj, **_write_context(request))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        registry_delete(obj, **_write_context(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # Row by row, so each deleted row gets its entry; one revision for the lot.
        registry_write_many(delete=queryset, **_write_context(request))

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # commit=False leaves every row write, deletions included, to the service; the
        # formset still fills new_objects, changed_objects and deleted_objects, which the
        # admin's history message reads.
        saved = formset.save(commit=False)
        registry_write_many(save=saved, delete=formset.deleted_objects, **_write_context(request))
        formset.save_m2m()


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only tables: viewable, never edited or deleted from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Provider)
class ProviderAdmin(ChangeLoggedAdmin):
    list_display = ["name", "kind", "tier", "base_url", "api_key_env", "timeout_s"]
    list_filter = ["kind", "tier"]
    search_fields = ["name", "base_url"]


@admin.register(LLMModel)
class LLMModelAdmin(ChangeLoggedAdmin):
    list_display = [
        "key",
        "provider",
        "model_id",
        "type",
        "cost_input_per_1k",
        "cost_output_per_1k",
        "context_window",
        "enabled",
    ]
    list_filter = ["type", "enabled", "provider"]
    search_fields = ["key", "model_id"]
    list_select_related = ["provider"]


@admin.register(TaskRoute)
class TaskRouteAdmin(ChangeLoggedAdmin):
    list_display = ["task_type", "band", "position", "provider", "model"]
    list_filter = ["task_type", "band"]


@admin.register(FallbackStep)
class FallbackStepAdmin(ChangeLoggedAdmin):
    list_display = ["position", "provider"]


@admin.register(Strategy)
class StrategyAdmin(ChangeLoggedAdmin):
    list_display = ["key", "description", "prefer_local", "allow_cloud", "cache_responses"]
    search_fields = ["key", "description"]


@admin.register(RoutingFactor)
class RoutingFactorAdmin(ChangeLoggedAdmin):
    list_display = ["name", "weight", "calculation"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(ChangeLoggedAdmin):
    list_display = ["__str__", "scope", "agent", "position", "action", "model", "enabled"]
    list_filter = ["scope", "action", "enabled"]
    search_fields = ["name", "condition"]
    list_select_related = ["agent", "model"]


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(ChangeLoggedAdmin):
    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RoutingSettings.objects.exists()


@admin.register(EnvironmentProfile)
class EnvironmentProfileAdmin(ChangeLoggedAdmin):
    list_display = ["name", "active", "max_cloud_spend_per_day", "force_local_models"]


class ExperimentVariantInline(admin.TabularInline):
    model = ExperimentVariant
    fields = ["model", "weight"]
    extra = 0
    min_num = 2


@admin.register(Experiment)
class ExperimentAdmin(ChangeLoggedAdmin):
    list_display = ["key", "agent", "sticky_by", "enabled"]
    list_filter = ["enabled"]
    inlines = [ExperimentVariantInline]


@admin.register(StrategyOverride)
class StrategyOverrideAdmin(ChangeLoggedAdmin):
    list_display = [
        "strategy",
        "scope",
        "agent",
        "starts_at",
        "expires_at",
        "ended_at",
        "author_label",
    ]
    list_filter = ["scope", "strategy"]


@admin.register(AgentModelOverride)
class AgentModelOverrideAdmin(ChangeLoggedAdmin):
    list_display = ["agent", "model", "starts_at", "expires_at", "ended_at", "author_label"]


@admin.register(TaskOverride)
class TaskOverrideAdmin(ChangeLoggedAdmin):
    list_display = ["task_id", "model", "starts_at", "expires_at", "ended_at", "author_label"]
    search_fields = ["task_id"]


@admin.register(ControlState)
class ControlStateAdmin(ChangeLoggedAdmin):
    list_display = ["__str__", "reason", "author_label", "expires_at", "changed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not ControlState.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(ChangeLoggedAdmin):
    list_display = [
        "scope",
        "agent",
        "provider",
        "model",
        "period",
        "limit_usd",
        "per_request_limit_usd",
        "warning_threshold",
        "enabled",
    ]
    list_filter = ["scope", "period", "enabled"]


@admin.register(SessionTokenBudget)
class SessionTokenBudgetAdmin(ChangeLoggedAdmin):
    list_display = ["scope", "agent", "warning_tokens", "switch_tokens"]


@admin.register(ApiKey)
class ApiKeyAdmin(ChangeLoggedAdmin):
    list_display = ["name", "prefix", "default_agent", "scopes", "is_active", "last_used_at"]
    list_filter = ["is_active"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    fields = [
        "name",
        "prefix",
        "default_agent",
        "scopes",
        "is_active",
        "created_at",
        "last_used_at",
    ]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        plaintext = None
        if not change:
            obj.prefix, plaintext = api_key_generate()
            obj.secret_hash = api_key_hash(plaintext)
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if plaintext:
            messages.warning(
                request,
                f"Copy the key now; it is not stored and will not be shown again: {plaintext}",
            )


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "public_id",
        "agent_key",
        "outcome",
        "strategy",
        "model_used",
        "cost_usd",
        "latency_ms",
    ]
    list_filter = ["outcome", "strategy", "local_only", "cached"]
    search_fields = ["public_id", "agent_key", "task_id", "session_id", "model_used"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # a COUNT(*) over millions of rows per page view is too slow


@admin.register(ConfigSnapshot)
class ConfigSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["version", "created_at"]


@admin.register(ChangeLogEntry)
class ChangeLogEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "actor_label",
        "source",
        "action",
        "target_type",
        "target_key",
        "reason",
    ]
    list_filter = ["source", "target_type"]
    search_fields = ["target_key", "actor_label", "reason"]


class BatchItemInline(admin.TabularInline):
    model = BatchItem
    fields = ["index", "status_code", "decision_id", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BatchJob)
class BatchJobAdmin(ReadOnlyAdmin):
    """Written by the batch API and its task; the dashboard's Batches page follows them."""

    list_display = ["created_at", "public_id", "api_key_name", "status", "completed", "total"]
    list_filter = ["status"]
    search_fields = ["public_id", "api_key_name"]
    inlines = [BatchItemInline]


@admin.register(ModelHealth)
class ModelHealthAdmin(ReadOnlyAdmin):
    """Written by the health probes (routing.services.health)."""

    list_display = ["model", "healthy", "latency_ms", "consecutive_failures", "error", "checked_at"]
    list_filter = ["healthy"]
    list_select_related = ["model"]
