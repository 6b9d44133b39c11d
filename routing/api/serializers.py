"""Input and output of POST /api/route."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from routing.execution.validation import schema_error

ROLES = ("system", "user", "assistant", "tool", "developer")
COMPLEXITY_WORDS = ("simple", "moderate", "medium", "complex", "critical")


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = serializers.JSONField()
    name = serializers.CharField(required=False, max_length=64)

    def validate_content(self, value: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(p, dict) and "type" in p for p in value):
            return value
        raise serializers.ValidationError(
            "Give a string, or a list of parts like {'type': 'text', 'text': '...'}."
        )


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
