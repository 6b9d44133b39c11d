"""Forms of the dashboard's registry page: providers, models, agents and rules.

They are ModelForms over the fields the API's serializers edit (routing.api.
crud_serializers), so the model's full_clean judges them as it judges the API: field
validators, `clean()`, check and unique constraints, and the rule condition checker.
Related rows are chosen by key, never by database id.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.urls import reverse

from agents.models import Agent
from controlplane.lib.validators import validate_env_var_name
from routing.choices import RuleScope
from routing.dashboard.condition_report import ConditionReport, condition_report
from routing.dashboard.edit_rows import MoneyField, ReasonModelForm
from routing.models import LLMModel, Provider, RoutingRule

MSG_KEY_ENV_NOT_A_NAME = (
    "Give the NAME of the environment variable that holds the key (like OPENAI_API_KEY), "
    "never the key itself. What was typed here has not been kept."
)
MSG_POSITION_TAKEN = "Position {position} is already taken by rule {rule} {where}; pick another."

JSON_TEXTAREA = {"rows": 2, "cols": 40, "spellcheck": "false", "class": "mono"}


class CommaListField(forms.CharField):
    """A list of short names typed as "vision, tools"; the model keeps a JSON list."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated, e.g. vision, tools")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class KeyedModelForm(ReasonModelForm):
    """Related rows are chosen by key (to_field_name). A ModelForm's initial value of a
    foreign key is the related row's id, which no option carries: without this, a form
    for a stored row would select nothing and saving it would clear the link."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            return
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField) and field.to_field_name:
                related = getattr(self.instance, name, None)
                if related is not None:
                    self.initial[name] = getattr(related, field.to_field_name)


def _model_choice(**kwargs: Any) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=LLMModel.objects.order_by("key"), to_field_name="key", required=False, **kwargs
    )


class ProviderForm(ReasonModelForm):
    """The provider's key lives in an environment variable; the form takes only the
    variable's name, and never shows back a value that is not a name."""

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
        ]
        widgets = {
            "api_key_env": forms.TextInput(
                attrs={
                    "placeholder": "OPENAI_API_KEY",
                    "autocomplete": "off",
                    "spellcheck": "false",
                }
            ),
            "model_roles": forms.Textarea(attrs=JSON_TEXTAREA),
            "options": forms.Textarea(attrs=JSON_TEXTAREA),
        }

    def clean_api_key_env(self) -> str:
        value = self.cleaned_data["api_key_env"].strip()
        if not value:
            return value
        try:
            validate_env_var_name(value)
        except forms.ValidationError:
            # Likely a pasted secret: the page that shows this error must not echo it.
            self.data = self.data.copy()
            self.data[self.add_prefix("api_key_env")] = ""
            raise forms.ValidationError(MSG_KEY_ENV_NOT_A_NAME) from None
        return value


class LLMModelForm(KeyedModelForm):
    provider = forms.ModelChoiceField(
        queryset=Provider.objects.order_by("name"), to_field_name="name"
    )
    capabilities = CommaListField()

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
        ]
        widgets = {"resource_requirements": forms.Textarea(attrs=JSON_TEXTAREA)}
        field_classes = {"cost_input_per_1k": MoneyField, "cost_output_per_1k": MoneyField}


class AgentForm(KeyedModelForm):
    primary_model = _model_choice()
    fallback_model = _model_choice()
    local_alternative = _model_choice()
    budget_mode_model = _model_choice()
    capabilities_required = CommaListField()

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
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 40})}


class RoutingRuleForm(KeyedModelForm):
    """The condition is checked as it is typed (htmx posts it to the check endpoint,
    which answers with the same checker's verdict) and again by full_clean on save."""

    agent = forms.ModelChoiceField(
        queryset=Agent.objects.order_by("key"),
        to_field_name="key",
        required=False,
        help_text="Agent rules only.",
    )
    model = _model_choice(help_text="For 'Use a model' rules.")

    class Meta:
        model = RoutingRule
        fields = ["scope", "agent", "name", "position", "condition", "action", "model", "enabled"]
        widgets = {
            "condition": forms.Textarea(
                attrs={"rows": 2, "cols": 60, "spellcheck": "false", "class": "mono"}
            )
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["condition"].widget.attrs.update(
            {
                "hx-post": reverse("dashboard:registry_condition_check"),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": f"#{self.condition_check_id}",
                "hx-swap": "innerHTML",
                "hx-params": "condition",
                "aria-describedby": self.condition_check_id,
            }
        )

    @property
    def condition_check_id(self) -> str:
        """The id of the element the check's verdict is swapped into."""
        return f"{self['condition'].auto_id or 'condition'}-check"

    @property
    def condition_report(self) -> ConditionReport | None:
        """The checker's verdict on the condition shown (none for an empty new form)."""
        text = self["condition"].value()
        return condition_report(text) if text else None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        scope, position = cleaned.get("scope"), cleaned.get("position")
        if scope and position is not None:
            twins = RoutingRule.objects.filter(scope=scope, position=position)
            if scope == RuleScope.AGENT:
                twins = twins.filter(agent=cleaned.get("agent"))
            twin = twins.exclude(pk=self.instance.pk).select_related("agent").first()
            if twin is not None:
                where = f"of agent {twin.agent.key}" if twin.agent else "(global)"
                self.add_error(
                    "position",
                    MSG_POSITION_TAKEN.format(position=position, rule=twin, where=where),
                )
        return cleaned
