"""Small explicit list filters: each is a serializer of query parameters and the
queryset filter they stand for.

A bad value (an unknown outcome, a date that does not parse) is a 400 with field errors
in the shared envelope, not a silently unfiltered list. Parameters a filter does not name
are ignored, since pagination (limit, offset, cursor) shares the query string.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

from routing.choices import (
    BudgetPeriod,
    BudgetScope,
    ChangeSource,
    DecisionOutcome,
    ModelType,
    ProviderKind,
    RuleAction,
    RuleScope,
    Tier,
)

MSG_EMPTY_RANGE = "'until' must be later than 'since'."


class QueryFilter(serializers.Serializer):
    """The base: subclasses declare optional fields and say how each narrows a queryset."""

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        # Every subclass says how it narrows; a missing one is a programming error.
        raise TypeError(f"{type(self).__name__} must define narrow()")


class QueryFilterBackend(BaseFilterBackend):
    """Applies the view's `query_filter` to its list (not to a single row's lookup)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        query_filter = getattr(view, "query_filter", None)
        if query_filter is None or getattr(view, "action", None) != "list":
            return queryset
        # A plain dict, not the QueryDict: DRF reads a missing boolean in form-style
        # input as False, which would turn every list into "enabled=false".
        params = query_filter(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        return params.narrow(queryset, params.validated_data)


class TimeRangeFilter(QueryFilter):
    """`since` (inclusive) and `until` (exclusive), ISO 8601 datetimes on created_at."""

    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and until <= since:
            raise serializers.ValidationError({"until": MSG_EMPTY_RANGE})
        return attrs

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        if "since" in params:
            queryset = queryset.filter(created_at__gte=params["since"])
        if "until" in params:
            queryset = queryset.filter(created_at__lt=params["until"])
        return queryset


class ProviderFilter(QueryFilter):
    kind = serializers.ChoiceField(choices=ProviderKind.choices, required=False)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        return queryset.filter(**params)


class ModelFilter(QueryFilter):
    provider = serializers.CharField(required=False, help_text="A provider name.")
    type = serializers.ChoiceField(choices=ModelType.choices, required=False)
    enabled = serializers.BooleanField(required=False)
    capability = serializers.CharField(required=False)

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        if "provider" in params:
            queryset = queryset.filter(provider__name=params["provider"])
        if "type" in params:
            queryset = queryset.filter(type=params["type"])
        if "enabled" in params:
            queryset = queryset.filter(enabled=params["enabled"])
        if "capability" in params:
            queryset = _with_capability(queryset, params["capability"])
        return queryset


def _with_capability(queryset: QuerySet[Any], capability: str) -> QuerySet[Any]:
    if connections[queryset.db].features.supports_json_field_contains:
        return queryset.filter(capabilities__contains=[capability])
    # SQLite has no JSON containment; the registry is small enough to match in Python.
    matching = [
        pk
        for pk, capabilities in queryset.values_list("pk", "capabilities")
        if capability in capabilities
    ]
    return queryset.filter(pk__in=matching)


class RuleFilter(QueryFilter):
    scope = serializers.ChoiceField(choices=RuleScope.choices, required=False)
    agent = serializers.CharField(required=False, help_text="An agent key.")
    action = serializers.ChoiceField(choices=RuleAction.choices, required=False)
    enabled = serializers.BooleanField(required=False)

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        if "agent" in params:
            queryset = queryset.filter(agent__key=params["agent"])
        return queryset.filter(**{k: v for k, v in params.items() if k != "agent"})


class BudgetFilter(QueryFilter):
    scope = serializers.ChoiceField(choices=BudgetScope.choices, required=False)
    period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    enabled = serializers.BooleanField(required=False)

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        return queryset.filter(**params)


class ApiKeyFilter(QueryFilter):
    is_active = serializers.BooleanField(required=False)

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        return queryset.filter(**params)


class DecisionFilter(TimeRangeFilter):
    """Every filter here has an index that starts with its column and ends with
    created_at (or, for pii, a partial index), so a page stays one short index scan."""

    agent = serializers.CharField(required=False, help_text="An agent key.")
    model = serializers.CharField(required=False, help_text="The model that answered.")
    outcome = serializers.ChoiceField(choices=DecisionOutcome.choices, required=False)
    strategy = serializers.CharField(required=False)
    pii = serializers.BooleanField(
        required=False, help_text="true: PII was found in the prompt; false: none was."
    )

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        queryset = super().narrow(queryset, params)
        if "agent" in params:
            queryset = queryset.filter(agent_key=params["agent"])
        if "model" in params:
            queryset = queryset.filter(model_used=params["model"])
        if "outcome" in params:
            queryset = queryset.filter(outcome=params["outcome"])
        if "strategy" in params:
            queryset = queryset.filter(strategy=params["strategy"])
        if "pii" in params:
            # The same expression as the partial index decision_with_pii, so the planner
            # can use it: pii_types is never NULL, an empty list means "none found".
            queryset = (
                queryset.exclude(pii_types=[]) if params["pii"] else queryset.filter(pii_types=[])
            )
        return queryset


class ChangeLogFilter(TimeRangeFilter):
    target_type = serializers.CharField(required=False)
    target_key = serializers.CharField(required=False)
    actor = serializers.CharField(
        required=False, help_text="A username, or a label such as 'system'."
    )
    source = serializers.ChoiceField(choices=ChangeSource.choices, required=False)

    def narrow(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        queryset = super().narrow(queryset, params)
        for name in ("target_type", "target_key", "source"):
            if name in params:
                queryset = queryset.filter(**{name: params[name]})
        if "actor" in params:
            queryset = queryset.filter(actor_label=params["actor"])
        return queryset
