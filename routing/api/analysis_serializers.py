"""Input and output of explain, replay and simulate (the analysis API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from routing.choices import BudgetPeriod, BudgetScope, RuleAction, RuleScope
from routing.conditions import check_condition
from routing.services.simulate import DEFAULT_LIMIT, MAX_LIMIT

MSG_UNKNOWN_FIELD = "Unknown field."
MSG_AGENT_RULE_NEEDS_AGENT = "An agent rule names its agent."
MSG_GLOBAL_RULE_HAS_NO_AGENT = "A global rule has no agent; use scope 'agent'."
MSG_USE_MODEL_NEEDS_MODEL = "The use_model action needs a model."
MSG_BUDGET_NEEDS_TARGET = "A {scope} budget names its target."
MSG_GLOBAL_BUDGET_HAS_NO_TARGET = "A global budget has no target."
MSG_UNTIL_BEFORE_SINCE = "until must be after since."


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 rather than silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [MSG_UNKNOWN_FIELD] for name in unknown})
        return super().to_internal_value(data)


# -- simulate: input ------------------------------------------------------------------------


class RuleDraftSerializer(StrictSerializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    scope = serializers.ChoiceField(choices=RuleScope.choices, default=RuleScope.GLOBAL)
    agent = serializers.CharField(required=False, max_length=64)
    position = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    condition = serializers.CharField(trim_whitespace=False)
    action = serializers.ChoiceField(choices=RuleAction.choices)
    model = serializers.CharField(required=False, allow_null=True, max_length=128)
    enabled = serializers.BooleanField(default=True)

    def validate_condition(self, value: str) -> str:
        error = check_condition(value)
        if error is not None:
            raise serializers.ValidationError(str(error))  # "line L, column C: ..."
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        problems = {}
        if attrs["scope"] == RuleScope.AGENT and not attrs.get("agent"):
            problems["agent"] = MSG_AGENT_RULE_NEEDS_AGENT
        if attrs["scope"] == RuleScope.GLOBAL and attrs.get("agent"):
            problems["agent"] = MSG_GLOBAL_RULE_HAS_NO_AGENT
        if attrs["action"] == RuleAction.USE_MODEL and not attrs.get("model"):
            problems["model"] = MSG_USE_MODEL_NEEDS_MODEL
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


class ModelDraftSerializer(StrictSerializer):
    enabled = serializers.BooleanField(required=False)
    cost_input_per_1k = serializers.FloatField(required=False, allow_null=True, min_value=0)
    cost_output_per_1k = serializers.FloatField(required=False, allow_null=True, min_value=0)
    context_window = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    tokens_per_second = serializers.FloatField(required=False, allow_null=True, min_value=0)
    capabilities = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=100
    )


class BudgetDraftSerializer(StrictSerializer):
    scope = serializers.ChoiceField(choices=BudgetScope.choices)
    target = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    period = serializers.ChoiceField(choices=BudgetPeriod.choices, default=BudgetPeriod.DAY)
    limit_usd = serializers.FloatField(required=False, allow_null=True, min_value=0, default=None)
    per_request_usd = serializers.FloatField(
        required=False, allow_null=True, min_value=0, default=None
    )
    warning_threshold = serializers.FloatField(min_value=0, max_value=1, default=0.8)
    enabled = serializers.BooleanField(default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["scope"] == BudgetScope.GLOBAL and attrs["target"]:
            raise serializers.ValidationError({"target": MSG_GLOBAL_BUDGET_HAS_NO_TARGET})
        if attrs["scope"] != BudgetScope.GLOBAL and not attrs["target"]:
            raise serializers.ValidationError(
                {"target": MSG_BUDGET_NEEDS_TARGET.format(scope=attrs["scope"])}
            )
        return attrs


class ChangesSerializer(StrictSerializer):
    rules = serializers.ListField(child=RuleDraftSerializer(), required=False, max_length=200)
    models = serializers.DictField(child=ModelDraftSerializer(), required=False)
    budgets = serializers.ListField(child=BudgetDraftSerializer(), required=False, max_length=200)


class SimulateInputSerializer(StrictSerializer):
    strategy = serializers.CharField(required=False, max_length=64)
    changes = ChangesSerializer(required=False)
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("until")
        if until is not None and until <= attrs["since"]:
            raise serializers.ValidationError({"until": MSG_UNTIL_BEFORE_SINCE})
        return attrs


# -- explain: output --------------------------------------------------------------------------


class ChainEntrySerializer(serializers.Serializer):
    position = serializers.IntegerField()
    model = serializers.CharField()
    provider = serializers.CharField(allow_null=True)
    type = serializers.CharField(allow_null=True)
    why = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    factors = serializers.DictField(child=serializers.FloatField(), allow_null=True)
    estimated_cost_usd = serializers.FloatField(allow_null=True)


class EliminationSerializer(serializers.Serializer):
    model = serializers.CharField()
    step = serializers.CharField()
    reason = serializers.CharField()
    values = serializers.JSONField()


class StrategyUsedSerializer(serializers.Serializer):
    key = serializers.CharField()
    source = serializers.CharField()


class ExplainOutputSerializer(serializers.Serializer):
    decision_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    outcome = serializers.CharField()
    error_code = serializers.CharField(allow_blank=True)
    agent = serializers.CharField(allow_null=True)
    task_id = serializers.CharField(allow_null=True)
    session_id = serializers.CharField(allow_null=True)
    api_key = serializers.CharField(allow_null=True)
    config_version = serializers.IntegerField()
    sentences = serializers.ListField(child=serializers.CharField())
    features = serializers.JSONField()
    pii_types = serializers.ListField(child=serializers.CharField())
    strategy = StrategyUsedSerializer()
    rule = serializers.CharField(allow_null=True)
    local_only = serializers.BooleanField()
    warning_level = serializers.CharField(allow_blank=True)
    chain = ChainEntrySerializer(many=True)
    factors_source = serializers.CharField(allow_null=True)
    eliminated = EliminationSerializer(many=True)
    refusal = serializers.JSONField(allow_null=True)
    attempts = serializers.JSONField()
    verification = serializers.JSONField(allow_null=True)
    cost = serializers.JSONField()
    errors = serializers.ListField(child=serializers.CharField())
    flags = serializers.JSONField(allow_null=True)
    trace = serializers.JSONField()
    raw = serializers.JSONField()


# -- replay: output -----------------------------------------------------------------------------


class DigestSerializer(serializers.Serializer):
    primary = serializers.CharField(allow_null=True)
    chain = serializers.ListField(child=serializers.CharField())
    strategy = serializers.CharField()
    strategy_source = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    local_only = serializers.BooleanField()
    warning_level = serializers.CharField(allow_blank=True)
    estimated_cost_usd = serializers.FloatField(allow_null=True)
    refusal = serializers.CharField(allow_null=True)


class ReplayOutputSerializer(serializers.Serializer):
    decision_id = serializers.CharField()
    stored_config_version = serializers.IntegerField()
    stored_config = serializers.ChoiceField(choices=("found", "missing"))
    reproduced = serializers.BooleanField(allow_null=True)
    differences = serializers.JSONField()
    current_config_version = serializers.IntegerField()
    current_as_of = serializers.CharField()
    stored = DigestSerializer()
    current = DigestSerializer()
    would_differ = serializers.JSONField()
    changed = serializers.BooleanField()
    summary = serializers.CharField()


# -- simulate: output ---------------------------------------------------------------------------


class MoveSerializer(serializers.Serializer):
    from_ = serializers.CharField(allow_null=True)
    to = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword: declared as `from_`, named "from" when bound.
        fields = super().get_fields()
        renamed = {"from": fields.pop("from_")}
        return renamed | fields


class SimulateOutputSerializer(serializers.Serializer):
    range = serializers.JSONField()
    limit = serializers.IntegerField()
    truncated = serializers.BooleanField()
    current_config_version = serializers.IntegerField()
    draft = serializers.JSONField()
    requests = serializers.JSONField()
    moves = MoveSerializer(many=True)
    cost = serializers.JSONField()
    privacy = serializers.JSONField()
    rule_hits = serializers.JSONField()
    refusals = serializers.JSONField()
    fallbacks = serializers.JSONField()
    stored_config_versions = serializers.ListField(child=serializers.IntegerField())
    notes = serializers.ListField(child=serializers.CharField())
