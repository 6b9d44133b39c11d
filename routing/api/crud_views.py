"""The registry CRUD (providers, models, agents, rules, strategies, budgets, API keys)
and the read-only audit lists (decisions, the change log).

Reads need the viewer role, writes the admin role; API keys get nothing here. Every
write records a change-log entry (source "api") and bumps the configuration version in
the same transaction as the change, as the Django admin and the importer do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from agents.models import Agent
from routing.api import crud_serializers as s
from routing.api import filters
from routing.api.base import ControlPlaneGenericAPIView
from routing.api.errors import INVALID_REQUEST, ApiError
from routing.api.pagination import AuditCursorPagination, RegistryPagination
from routing.api.schema import error_responses, extend_schema
from routing.choices import ChangeSource
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
from routing.roles import ADMIN, has_role
from routing.services import api_key_create, config_revision_bump
from routing.services.registry_writes import (
    MSG_IN_USE as MSG_IN_USE,  # the API's in-use message is the service's
)
from routing.services.registry_writes import (
    RegistryInUse,
    registry_delete,
    registry_record,
    registry_save,
    registry_snapshot,
)

# Keys may hold dots, colons and slashes ("ollama:llama3.1:8b"). Agent keys stop at a
# slash so /api/agents/{agent}/model (the control API) stays its own URL.
ANY_KEY = r".+"
KEY_WITHOUT_SLASH = r"[^/]+"


MSG_FILTER_400 = "invalid_request: a filter value is not valid (details.fields names it)."
MSG_DESTROY_400 = "invalid_request: other rows still use this one (details.used_by names them)."
MSG_CURSOR_404 = "not_found: the cursor is not valid."


def registry_schema(
    noun: str,
    plural: str,
    serializer: type[BaseSerializer],
    *,
    create_request: type[BaseSerializer] | None = None,
    create_response: type[BaseSerializer] | None = None,
    destroy: str = "Delete",
    filtered: bool = True,
    in_use_400: bool = True,
) -> Callable[[type], type]:
    """The OpenAPI description of a registry viewset: reads for viewers, writes for admins,
    and each operation's errors."""
    tag = "registry"
    write = "Admins. Writes a change-log entry (give `reason` in the body to say why)."
    list_errors = (400, 401, 403) if filtered else (401, 403)
    destroy_errors = (400, 401, 403, 404) if in_use_400 else (401, 403, 404)
    return extend_schema_view(
        list=extend_schema(
            tags=[tag],
            summary=f"List {plural}",
            description="Viewers. Paginated with `limit` and `offset`.",
            responses={
                200: serializer(many=True),
                **error_responses(*list_errors, notes={400: MSG_FILTER_400}),
            },
        ),
        retrieve=extend_schema(
            tags=[tag],
            summary=f"One {noun}",
            description="Viewers.",
            responses={200: serializer, **error_responses(401, 403, 404)},
        ),
        create=extend_schema(
            tags=[tag],
            summary=f"Create a {noun}",
            description=write,
            request=create_request or serializer,
            responses={201: create_response or serializer, **error_responses(400, 401, 403)},
        ),
        update=extend_schema(
            tags=[tag],
            summary=f"Replace a {noun}",
            description=write,
            responses={200: serializer, **error_responses(400, 401, 403, 404)},
        ),
        partial_update=extend_schema(
            tags=[tag],
            summary=f"Change some fields of a {noun}",
            description=write,
            responses={200: serializer, **error_responses(400, 401, 403, 404)},
        ),
        destroy=extend_schema(
            tags=[tag],
            summary=f"{destroy} a {noun}",
            description=write,
            responses={
                204: None,
                **error_responses(*destroy_errors, notes={400: MSG_DESTROY_400}),
            },
        ),
    )


def audit_schema(
    noun: str,
    plural: str,
    list_serializer: type[BaseSerializer],
    detail_serializer: type[BaseSerializer],
    detail_note: str = "",
) -> Callable[[type], type]:
    return extend_schema_view(
        list=extend_schema(
            tags=["audit"],
            summary=f"List {plural}, newest first",
            description="Viewers. Paged by cursor: follow `next` and `previous`; `limit` "
            "sets the page size (at most 500).",
            responses={
                200: list_serializer(many=True),
                **error_responses(
                    400, 401, 403, 404, notes={400: MSG_FILTER_400, 404: MSG_CURSOR_404}
                ),
            },
        ),
        retrieve=extend_schema(
            tags=["audit"],
            summary=f"One {noun}",
            description=f"Viewers.{detail_note}",
            responses={200: detail_serializer, **error_responses(401, 403, 404)},
        ),
    )


class ControlPlaneView(ControlPlaneGenericAPIView):
    """Authentication and roles (routing.api.base), and the filters of this module."""

    filter_backends = [filters.QueryFilterBackend]

    def get_object(self) -> Any:
        # Django's Http404 (from get_object_or_404) reaches the envelope handler as itself,
        # not as DRF's NotFound, and would be coded "invalid_request".
        try:
            return super().get_object()
        except Http404 as exc:
            raise NotFound() from exc


class ChangeLoggedViewSet(ControlPlaneView, viewsets.ModelViewSet):
    """CRUD where each write, its change-log entry and the revision bump commit together
    (routing.services.registry_writes, which the dashboard uses too). A row being changed
    is locked first, so the entry's "before" is the row replaced. A write may say why in
    a "reason" field of its body; the change log keeps it."""

    pagination_class = RegistryPagination

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if self.request.method not in permissions.SAFE_METHODS:
            queryset = queryset.select_for_update(of=("self",))
        return queryset

    @transaction.atomic
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @transaction.atomic
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @transaction.atomic
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer) -> None:
        # The serializers validated the row with full_clean; the service writes it.
        row = serializer.Meta.model(**serializer.validated_data)
        serializer.instance = registry_save(row, **self.write_context())

    def perform_update(self, serializer: BaseSerializer) -> None:
        for name, value in serializer.validated_data.items():
            setattr(serializer.instance, name, value)
        registry_save(serializer.instance, **self.write_context())

    def perform_destroy(self, instance: models.Model) -> None:
        try:
            registry_delete(instance, **self.write_context())
        except RegistryInUse as exc:
            raise ApiError(INVALID_REQUEST, str(exc), {"used_by": exc.used_by}) from exc

    def write_context(self) -> dict[str, Any]:
        return {"actor": self.request.user, "source": ChangeSource.API, "reason": self.reason()}

    def reason(self) -> str:
        data = self.request.data
        reason = data.get("reason") if isinstance(data, dict) else None
        return reason if isinstance(reason, str) else ""


@registry_schema("provider", "providers", s.ProviderSerializer)
class ProviderViewSet(ChangeLoggedViewSet):
    queryset = Provider.objects.all()
    serializer_class = s.ProviderSerializer
    query_filter = filters.ProviderFilter
    lookup_field = "name"
    lookup_value_regex = KEY_WITHOUT_SLASH


@registry_schema("model", "models", s.LLMModelSerializer)
class LLMModelViewSet(ChangeLoggedViewSet):
    queryset = LLMModel.objects.select_related("provider")
    serializer_class = s.LLMModelSerializer
    query_filter = filters.ModelFilter
    lookup_field = "key"
    lookup_value_regex = ANY_KEY


@registry_schema("agent", "agents", s.AgentSerializer, filtered=False)
class AgentViewSet(ChangeLoggedViewSet):
    queryset = Agent.objects.select_related(
        "primary_model", "fallback_model", "local_alternative", "budget_mode_model"
    )
    serializer_class = s.AgentSerializer
    lookup_field = "key"
    lookup_value_regex = KEY_WITHOUT_SLASH


@registry_schema("rule", "rules", s.RoutingRuleSerializer)
class RoutingRuleViewSet(ChangeLoggedViewSet):
    queryset = RoutingRule.objects.select_related("agent", "model")
    serializer_class = s.RoutingRuleSerializer
    query_filter = filters.RuleFilter


@registry_schema("strategy", "strategies", s.StrategySerializer, filtered=False)
class StrategyViewSet(ChangeLoggedViewSet):
    queryset = Strategy.objects.all()
    serializer_class = s.StrategySerializer
    lookup_field = "key"
    lookup_value_regex = ANY_KEY


@registry_schema("budget", "budgets", s.BudgetSerializer)
class BudgetViewSet(ChangeLoggedViewSet):
    # id breaks ties: several agents' budgets share a scope and period.
    queryset = Budget.objects.select_related("agent", "provider", "model").order_by(
        "scope", "period", "id"
    )
    serializer_class = s.BudgetSerializer
    query_filter = filters.BudgetFilter


@registry_schema(
    "API key",
    "API keys",
    s.ApiKeySerializer,
    create_request=s.ApiKeyCreateSerializer,
    create_response=s.ApiKeyCreatedSerializer,
    destroy="Revoke",
    in_use_400=False,
)
class ApiKeyViewSet(ChangeLoggedViewSet):
    """Create returns the secret once, under "key"; delete revokes (the row stays, so
    decisions still name their key)."""

    queryset = ApiKey.objects.select_related("default_agent", "created_by")
    serializer_class = s.ApiKeySerializer
    query_filter = filters.ApiKeyFilter
    lookup_field = "name"
    lookup_value_regex = ANY_KEY

    @transaction.atomic
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = api_key_create(  # writes the change-log entry itself
            **serializer.validated_data, created_by=request.user, source=ChangeSource.API
        )
        config_revision_bump()
        body = {**self.get_serializer(created.api_key).data, "key": created.plaintext}
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiKey) -> None:
        if not instance.is_active:
            return
        before = registry_snapshot(instance)
        instance.is_active = False
        instance.save(update_fields=["is_active"])
        after = registry_snapshot(instance)
        registry_record("revoke", instance, before=before, after=after, **self.write_context())


@audit_schema(
    "decision",
    "decisions",
    s.DecisionListSerializer,
    s.DecisionDetailSerializer,
    " Admins also get `prompt_full`, the whole prompt, when it was kept "
    "(SWITCHBOARD_STORE_FULL_PROMPTS).",
)
class DecisionViewSet(ControlPlaneView, viewsets.ReadOnlyModelViewSet):
    """Newest first by cursor; the list leaves out the heavy columns (attempts, trace,
    features, prompts), which only the detail shows."""

    queryset = Decision.objects.all()
    query_filter = filters.DecisionFilter
    pagination_class = AuditCursorPagination
    lookup_field = "public_id"
    lookup_value_regex = KEY_WITHOUT_SLASH

    def get_queryset(self) -> QuerySet[Decision]:
        queryset = super().get_queryset()
        if self.action == "list":
            list_columns = [
                "agent_key" if name == "agent" else name for name in s.DECISION_LIST_FIELDS
            ]
            queryset = queryset.only("id", *list_columns)
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "list":
            return s.DecisionListSerializer
        if has_role(self.request.user, ADMIN):
            return s.DecisionAdminDetailSerializer
        return s.DecisionDetailSerializer


@audit_schema(
    "change-log entry",
    "change-log entries",
    s.ChangeLogEntrySerializer,
    s.ChangeLogEntrySerializer,
)
class ChangeLogViewSet(ControlPlaneView, viewsets.ReadOnlyModelViewSet):
    queryset = ChangeLogEntry.objects.all()
    serializer_class = s.ChangeLogEntrySerializer
    query_filter = filters.ChangeLogFilter
    pagination_class = AuditCursorPagination
