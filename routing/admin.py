"""Django admin for routing configuration, controls and the (read-only) audit tables.

Every save or delete of a configuration or control row through the admin writes a
change-log entry and bumps the configuration version, like every other way in.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models, transaction
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
from routing.services import (
    api_key_generate,
    api_key_hash,
    change_log_record,
    config_revision_bump,
    snapshot_of,
)


class ChangeLoggedAdmin(admin.ModelAdmin):
    """Records who changed what from the admin, and invalidates cached snapshots."""

    secret_fields: tuple[str, ...] = ()
    # How change-log entries name this model's rows; the services use the same names.
    change_log_type: str = ""
    change_log_key_field: str = ""
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def _snapshot(self, obj: models.Model | None) -> dict[str, Any] | None:
        data = snapshot_of(obj)
        if data is not None:
            for field in self.secret_fields:
                data.pop(field, None)
        return data

    def _target(self, obj: models.Model) -> tuple[str, str]:
        target_type = self.change_log_type or obj._meta.model_name or ""
        key = getattr(obj, self.change_log_key_field) if self.change_log_key_field else obj
        return target_type, str(key)

    @transaction.atomic
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = self._snapshot(type(obj).objects.filter(pk=obj.pk).first()) if change else None
        super().save_model(request, obj, form, change)
        target_type, target_key = self._target(obj)
        change_log_record(
            action=f"{target_type}.{'update' if change else 'create'}",
            target_type=target_type,
            target_key=target_key,
            before=before,
            after=self._snapshot(obj),
            source=ChangeSource.ADMIN,
            actor=request.user,
        )
        config_revision_bump()

    @transaction.atomic
    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        target_type, target_key = self._target(obj)
        before = self._snapshot(obj)
        super().delete_model(request, obj)
        change_log_record(
            action=f"{target_type}.delete",
            target_type=target_type,
            target_key=target_key,
            before=before,
            source=ChangeSource.ADMIN,
            actor=request.user,
        )
        config_revision_bump()

    @transaction.atomic
    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # Keyed by object identity: a deleted row has lost its pk by the time we log it.
        befores = {
            id(f.instance): self._snapshot(
                type(f.instance).objects.filter(pk=f.instance.pk).first()
            )
            for f in formset.initial_forms
            if f.instance.pk
        }
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            self._log_inline(request, obj, "create", None, self._snapshot(obj))
        for obj, _fields in formset.changed_objects:
            self._log_inline(request, obj, "update", befores.get(id(obj)), self._snapshot(obj))
        for obj in formset.deleted_objects:
            self._log_inline(request, obj, "delete", befores.get(id(obj)), None)
        if formset.new_objects or formset.changed_objects or formset.deleted_objects:
            config_revision_bump()

    def _log_inline(
        self, request: HttpRequest, obj: Any, verb: str, before: Any, after: Any
    ) -> None:
        target_type, target_key = self._target(obj)
        change_log_record(
            action=f"{target_type}.{verb}",
            target_type=target_type,
            target_key=target_key,
            before=before,
            after=after,
            source=ChangeSource.ADMIN,
            actor=request.user,
        )

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


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
    secret_fields = ("secret_hash",)
    change_log_type = "api_key"
    change_log_key_field = "name"

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
