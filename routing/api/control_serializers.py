"""Input of the runtime-control endpoints. Each turns keys into rows and durations into
timedeltas, so a view hands its service ready objects; anything wrong is a field error
(400 invalid_request in the shared envelope)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rest_framework import serializers

from agents.models import Agent
from routing.models import LLMModel, Strategy
from routing.services.durations import parse_duration

MSG_UNKNOWN_STRATEGY = "Unknown strategy '{key}'. Configured: {known}."
MSG_UNKNOWN_MODEL = "Unknown model '{key}': it is not in the model registry."
MSG_UNKNOWN_AGENT = "Unknown agent '{key}'."
MSG_UNKNOWN_FIELD = "Unknown field."
MSG_DURATION_WHEN_OFF = "A duration only applies when turning force-local mode on."

REASON_MAX = 2000


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a misspelt "duraton" is not silently ignored."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: MSG_UNKNOWN_FIELD for name in sorted(unknown)})
        return attrs


class DurationField(serializers.Field):
    """ "2h", "90m", "1d", "1h30m" -> timedelta, within SWITCHBOARD_MAX_OVERRIDE_SECONDS."""

    default_error_messages = {"invalid": 'Give the duration as text, like "2h" or "90m".'}

    def to_internal_value(self, data: Any) -> timedelta:
        if not isinstance(data, str) or len(data) > 32:
            self.fail("invalid")
        try:
            return parse_duration(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value: Any) -> str:
        return str(value)


def _reason(required: bool = True) -> serializers.CharField:
    if required:
        return serializers.CharField(max_length=REASON_MAX)
    return serializers.CharField(max_length=REASON_MAX, required=False, allow_blank=True)


def _strategy(key: str) -> Strategy:
    strategy = Strategy.objects.filter(key=key).first()
    if strategy is None:
        known = ", ".join(Strategy.objects.values_list("key", flat=True)) or "none"
        raise serializers.ValidationError(MSG_UNKNOWN_STRATEGY.format(key=key, known=known))
    return strategy


def _model(key: str) -> LLMModel:
    model = LLMModel.objects.filter(key=key).first()
    if model is None:
        raise serializers.ValidationError(MSG_UNKNOWN_MODEL.format(key=key))
    return model


def _agent(key: str) -> Agent:
    agent = Agent.objects.filter(key=key).first()
    if agent is None:
        raise serializers.ValidationError(MSG_UNKNOWN_AGENT.format(key=key))
    return agent


class StrategyOverrideInput(StrictSerializer):
    """POST /api/routing/strategy"""

    strategy = serializers.CharField(max_length=64)
    duration = DurationField()
    reason = _reason()
    agent = serializers.CharField(max_length=64, required=False, allow_null=True)

    def validate_strategy(self, value: str) -> Strategy:
        return _strategy(value)

    def validate_agent(self, value: str | None) -> Agent | None:
        return None if value is None else _agent(value)


class StrategyOverrideEndInput(serializers.Serializer):
    """DELETE /api/routing/strategy/override (agent from the query string or the body)"""

    agent = serializers.CharField(max_length=64, required=False, allow_null=True)
    reason = _reason(required=False)

    def validate_agent(self, value: str | None) -> Agent | None:
        return None if value is None else _agent(value)


class EndInput(serializers.Serializer):
    """DELETE of an agent-model or task override: an optional reason."""

    reason = _reason(required=False)


class AgentModelInput(StrictSerializer):
    """POST /api/agents/{agent}/model"""

    model_id = serializers.CharField(max_length=128)
    reason = _reason()
    duration = DurationField(required=False, allow_null=True)

    def validate_model_id(self, value: str) -> LLMModel:
        return _model(value)


class TaskRoutingInput(StrictSerializer):
    """POST /api/tasks/{task_id}/routing"""

    force_model = serializers.CharField(max_length=128)
    reason = _reason()
    duration = DurationField(required=False, allow_null=True)

    def validate_force_model(self, value: str) -> LLMModel:
        return _model(value)


class TaskIdInput(serializers.Serializer):
    """The task id of the URL, held to the length the table keeps."""

    task_id = serializers.CharField(max_length=200)


class ForceLocalInput(StrictSerializer):
    """POST /api/control/force-local"""

    enabled = serializers.BooleanField()
    reason = _reason()
    duration = DurationField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if attrs.get("duration") is not None and not attrs["enabled"]:
            raise serializers.ValidationError({"duration": MSG_DURATION_WHEN_OFF})
        return attrs


class StatusQuery(serializers.Serializer):
    """GET /api/status?session_id=..."""

    session_id = serializers.CharField(max_length=200, required=False)
