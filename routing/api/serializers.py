"""Input and output of POST /api/route."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from routing.execution.validation import schema_error

ROLES = ("system", "user", "assistant", "tool", "developer")
COMPLEXITY_WORDS = ("simple", "moderate", "medium", "complex", "critical")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "text": {"type": "string"}},
                    "required": ["type"],
                },
            },
        ],
        "description": "A string, or a list of parts like {'type': 'text', 'text': '...'}.",
    }
)
class MessageContentField(serializers.JSONField):
    """Any JSON on the way in; validate_content below accepts the two shapes documented."""


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = MessageContentField()
    name = serializers.CharField(required=False, max_length=64)

    def validate_content(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(_is_part(p) for p in value):
            return value
        raise serializers.ValidationError(
            "Give a string, or a list of parts like {'type': 'text', 'text': '...'}."
        )


def _is_part(part: Any) -> bool:
    """{"type": ..., ...}. Any `text` is a string (the providers join the parts' texts),
    and a text part has one."""
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        return False
    if "text" in part or part["type"] == "text":
        return isinstance(part.get("text"), str)
    return True


class TaskSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, max_length=200)
    type = serializers.CharField(required=False, max_length=64)
    complexity = serializers.JSONField(required=False)
    classification = serializers.ChoiceField(
        choices=("routine", "creative", "critical"), required=False
    )
    privacy_level = serializers.ChoiceField(choices=("low", "medium", "high"), required=False)
    requires_reasoning = serializers.BooleanField(required=False)
    involves_ui_design = serializers.BooleanField(required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )

    def validate_complexity(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise serializers.ValidationError(
                "Give 1 to 10 or one of: simple, moderate, complex, critical."
            )
        if isinstance(value, int) and 1 <= value <= 10:
            return value
        if isinstance(value, str) and value in COMPLEXITY_WORDS:
            return value
        raise serializers.ValidationError(
            "Give 1 to 10 or one of: simple, moderate, complex, critical."
        )


@extend_schema_serializer(component_name="Route")
class RouteRequestSerializer(serializers.Serializer):
    agent = serializers.CharField(required=False, max_length=64)
    task = TaskSerializer(required=False)
    messages = MessageSerializer(many=True, allow_empty=False)
    response_schema = serializers.DictField(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    session_id = serializers.CharField(required=False, max_length=200)
    dry_run = serializers.BooleanField(required=False, default=False)
    cache = serializers.BooleanField(required=False, default=True)

    def validate_response_schema(self, value: dict[str, Any]) -> dict[str, Any]:
        problem = schema_error(value)
        if problem is not None:
            raise serializers.ValidationError(f"Not a valid JSON Schema: {problem}")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: "Unknown field." for name in sorted(unknown)})
        return attrs


# -- output (documentation of the answer; routing.services.route builds it as a dict) ----


class PrivacySummarySerializer(serializers.Serializer):
    pii_types = serializers.ListField(child=serializers.CharField())
    local_only = serializers.BooleanField()


class DecisionSummarySerializer(serializers.Serializer):
    strategy = serializers.CharField()
    strategy_source = serializers.CharField()
    complexity = serializers.CharField()
    task_type = serializers.CharField()
    reason = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    privacy = PrivacySummarySerializer()
    chain = serializers.ListField(child=serializers.CharField(), help_text="Model keys, in order.")
    warning_level = serializers.CharField()
    estimated_cost_usd = serializers.FloatField(allow_null=True)
    config_version = serializers.IntegerField()


class AttemptSerializer(serializers.Serializer):
    model = serializers.CharField()
    outcome = serializers.CharField()
    reason = serializers.CharField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)


class UsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    estimated = serializers.BooleanField(help_text="Counted by us, not reported upstream.")


class RouteAnswerSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    model_used = serializers.CharField()
    provider = serializers.CharField()
    simulated = serializers.BooleanField()
    content = serializers.JSONField(
        help_text="The answer: text, or the parsed object with `response_schema`."
    )
    raw_text = serializers.CharField(allow_blank=True)
    attempts = AttemptSerializer(many=True)
    decision = DecisionSummarySerializer()
    verification = serializers.JSONField(allow_null=True)
    usage = UsageSerializer()
    cost_usd = serializers.FloatField()
    fallback_tax_usd = serializers.FloatField()
    latency_ms = serializers.IntegerField()
    cached = serializers.BooleanField()


class RouteDryRunSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    dry_run = serializers.BooleanField()
    decision = DecisionSummarySerializer()
