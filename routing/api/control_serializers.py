"""Input of the runtime-control endpoints. Each turns keys into rows and durations into
timedeltas, so a view hands its service ready objects; anything wrong is a field error
(400 invalid_request in the shared envelope)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from drf_spectacular.utils import extend_schema_field
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


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 32,
        "example": "2h",
        "description": 'A duration: "90m", "2h", "1d", "1h30m"; at most '
        "SWITCHBOARD_MAX_OVERRIDE_SECONDS.",
    }
)
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


# -- output (documentation of the answers; the views build them as dicts) ----------------

LEVELS = ("normal", "warning", "critical")


class WindowOutput(serializers.Serializer):
    """When an override is in force."""

    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: until ended.")
    remaining_seconds = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


class StrategyOverrideInForce(WindowOutput):
    agent = serializers.CharField(allow_null=True, help_text="null: a global override.")
    strategy = serializers.CharField()


class AgentModelOverrideInForce(WindowOutput):
    agent = serializers.CharField()
    model = serializers.CharField()


class TaskOverrideInForce(WindowOutput):
    task_id = serializers.CharField()
    model = serializers.CharField()


class ActiveStrategyOutput(serializers.Serializer):
    strategy = serializers.CharField()
    source = serializers.CharField(
        help_text='"default", "environment <name>" or "global override".'
    )
    expires_at = serializers.DateTimeField(allow_null=True)
    configured = serializers.BooleanField(help_text="The strategy exists in the registry.")


class StrategyStateOutput(serializers.Serializer):
    """The strategy in force for requests without an agent override, and every override."""

    active = ActiveStrategyOutput()
    default_strategy = serializers.CharField()
    environment_strategy = serializers.CharField(allow_null=True)
    overrides = StrategyOverrideInForce(many=True)


class OverrideRecordOutput(serializers.Serializer):
    """An override row as written (or ended) by this request."""

    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)
    author = serializers.CharField()


class StrategyOverrideRecord(OverrideRecordOutput):
    scope = serializers.CharField()
    agent = serializers.CharField(allow_null=True)
    strategy = serializers.CharField()


class AgentModelOverrideRecord(OverrideRecordOutput):
    agent = serializers.CharField()
    model = serializers.CharField()


class TaskOverrideRecord(OverrideRecordOutput):
    task_id = serializers.CharField()
    model = serializers.CharField()


class StrategyOverrideSetOutput(StrategyStateOutput):
    override = StrategyOverrideRecord()


class StrategyOverrideEndedOutput(StrategyStateOutput):
    ended = StrategyOverrideRecord()


class AgentModelStateOutput(serializers.Serializer):
    agent = serializers.CharField()
    model_override = AgentModelOverrideInForce(allow_null=True)


class AgentModelSetOutput(AgentModelStateOutput):
    override = AgentModelOverrideRecord()


class AgentModelEndedOutput(AgentModelStateOutput):
    ended = AgentModelOverrideRecord()


class TaskRoutingSetOutput(serializers.Serializer):
    task_id = serializers.CharField()
    override = TaskOverrideRecord()


class TaskRoutingEndedOutput(serializers.Serializer):
    task_id = serializers.CharField()
    override = TaskOverrideInForce(allow_null=True, help_text="Normally null once ended.")
    ended = TaskOverrideRecord()


class ForceLocalStateOutput(serializers.Serializer):
    enabled = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    environment_forces_local = serializers.BooleanField()


class BurnRateOutput(serializers.Serializer):
    usd_per_hour = serializers.FloatField(allow_null=True)
    projected_day_usd = serializers.FloatField()
    exhausted = serializers.BooleanField()
    runs_out_at = serializers.DateTimeField(
        allow_null=True, help_text="null unless today's rate reaches the limit before midnight."
    )


class BudgetStatusOutput(serializers.Serializer):
    scope = serializers.CharField()
    target = serializers.CharField(allow_blank=True)
    period = serializers.CharField()
    limit_usd = serializers.FloatField(allow_null=True)
    per_request_limit_usd = serializers.FloatField(allow_null=True)
    spent_usd = serializers.FloatField()
    share = serializers.FloatField(allow_null=True)
    warning_threshold = serializers.FloatField()
    warning_level = serializers.ChoiceField(choices=LEVELS)
    burn_rate = BurnRateOutput(allow_null=True, help_text="Daily budgets with a limit only.")


class SessionStatusOutput(serializers.Serializer):
    session_id = serializers.CharField()
    total_tokens = serializers.IntegerField()
    warning_threshold = serializers.IntegerField()
    auto_switch_threshold = serializers.IntegerField()
    percent_used = serializers.FloatField()
    warning_level = serializers.ChoiceField(choices=LEVELS)
    message = serializers.CharField()


class OverridesInForceOutput(serializers.Serializer):
    strategy = StrategyOverrideInForce(many=True)
    agent_model = AgentModelOverrideInForce(many=True)
    task = TaskOverrideInForce(many=True)


class StatusOutput(serializers.Serializer):
    """Seed 004's status."""

    now = serializers.DateTimeField()
    config_version = serializers.IntegerField()
    strategy = StrategyStateOutput()
    overrides = OverridesInForceOutput()
    force_local = ForceLocalStateOutput()
    environment = serializers.CharField(allow_null=True)
    warning_level = serializers.ChoiceField(choices=LEVELS, help_text="The worst of them all.")
    budgets = BudgetStatusOutput(many=True)
    cooling_down = serializers.DictField(
        child=serializers.DateTimeField(), help_text="Model key -> when its cooldown ends."
    )
    session = SessionStatusOutput(allow_null=True, help_text="With ?session_id= only.")
