"""The budget form of the dashboard's Budgets page.

One select, "Applies to", names the budget's target (everything, an agent, a provider
or a model); the scope and the target columns follow from it, so they cannot disagree.
The model's own full_clean (run by the ModelForm) checks the row as the database will;
the checks here only put the common mistakes in words a person can act on, instead of
a constraint's name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from agents.models import Agent
from routing.choices import BudgetScope
from routing.dashboard.edit_rows import MoneyField, ReasonModelForm
from routing.models import Budget, LLMModel, Provider

GLOBAL_TARGET = "global"
MONEY_DIGITS = {"max_digits": 14, "decimal_places": 8}  # as routing.models.registry.MONEY

MSG_NO_LIMIT = "Set a limit, a per-request cap, or both."
MSG_THRESHOLD = "Give a share of the limit above 0 and at most 1 (0.8 warns at 80%)."
MSG_UNKNOWN_TARGET = "That target no longer exists; pick one from the list."
MSG_DUPLICATE = "{target} already has a budget per {period}; edit that one instead."

_TARGET_MODELS: dict[str, tuple[type[Any], str]] = {
    BudgetScope.AGENT: (Agent, "key"),
    BudgetScope.PROVIDER: (Provider, "name"),
    BudgetScope.MODEL: (LLMModel, "key"),
}


_TARGET_COLUMNS = ("scope", "agent", "provider", "model")


def target_value(budget: Budget) -> str:
    """The "Applies to" value of a stored budget: "global" or "<scope>:<key>"."""
    return (
        GLOBAL_TARGET
        if budget.scope == BudgetScope.GLOBAL
        else f"{budget.scope}:{budget.target_key}"
    )


def target_label(scope: str, key: str) -> str:
    return "Everything (global)" if scope == BudgetScope.GLOBAL else f"{scope} {key}"


def target_choices() -> list[Any]:
    """Everything, then agents, providers and models, grouped (three queries)."""
    groups: list[Any] = [(GLOBAL_TARGET, target_label(BudgetScope.GLOBAL, ""))]
    for scope, label in (
        (BudgetScope.AGENT, "Agents"),
        (BudgetScope.PROVIDER, "Providers"),
        (BudgetScope.MODEL, "Models"),
    ):
        model, key_field = _TARGET_MODELS[scope]
        keys = model._default_manager.order_by(key_field).values_list(key_field, flat=True)
        groups.append((label, [(f"{scope}:{key}", key) for key in keys]))
    return groups


def _derived() -> forms.Field:
    # Set by clean() from "Applies to", never read from the request. Being form fields
    # keeps them in the ModelForm's validation, so the constraints naming them are checked.
    return forms.Field(required=False, disabled=True, widget=forms.HiddenInput)


class BudgetForm(ReasonModelForm):
    target = forms.ChoiceField(label="Applies to")
    scope = _derived()
    agent = _derived()
    provider = _derived()
    model = _derived()
    limit_usd = MoneyField(
        label="Limit (USD)", required=False, min_value=Decimal(0), **MONEY_DIGITS
    )
    per_request_limit_usd = MoneyField(
        label="Per-request cap (USD)", required=False, min_value=Decimal(0), **MONEY_DIGITS
    )
    warning_threshold = forms.FloatField(
        label="Warn at (share of the limit)",
        initial=0.8,
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0.05", "max": "1"}),
    )

    class Meta:
        model = Budget
        fields = [
            "target",
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = target_choices()
        if self.instance.pk:
            self.fields["target"].initial = target_value(self.instance)

    def clean_warning_threshold(self) -> float:
        value = self.cleaned_data["warning_threshold"]
        if not 0 < value <= 1:
            raise forms.ValidationError(MSG_THRESHOLD)
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in _TARGET_COLUMNS:  # only what _resolve() sets may reach the row
            cleaned.pop(name, None)
        if cleaned.get("limit_usd") is None and cleaned.get("per_request_limit_usd") is None:
            self.add_error("limit_usd", MSG_NO_LIMIT)
        target = cleaned.get("target")
        if target:
            self._resolve(cleaned, target)
        return cleaned

    def _resolve(self, cleaned: dict[str, Any], target: str) -> None:
        """The scope and target columns for "Applies to", and no second budget for the
        same target and period."""
        scope, _, key = target.partition(":")
        columns: dict[str, Any] = {"scope": scope, "agent": None, "provider": None, "model": None}
        if scope != GLOBAL_TARGET:
            model, key_field = _TARGET_MODELS.get(scope, (None, ""))
            row = model._default_manager.filter(**{key_field: key}).first() if model else None
            if row is None:
                self.add_error("target", MSG_UNKNOWN_TARGET)
                return
            columns[scope] = row
        cleaned.update(columns)
        period = cleaned.get("period")
        twins = Budget.objects.filter(period=period, **columns).exclude(pk=self.instance.pk)
        if period and twins.exists():
            label = target_label(scope, key).capitalize()
            self.add_error("target", MSG_DUPLICATE.format(target=label, period=period))
