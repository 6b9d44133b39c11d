"""Input of the routing-control and change-log pages.

Each form turns keys into rows and durations into timedeltas (with the services'
parser), so a view hands its service ready objects. The select boxes list what the
configuration snapshot holds; what a browser posts is checked against the database.
No rule about what may change lives here: the services in routing.services.overrides
decide, and the view puts their refusals next to the field they concern.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms

from agents.models import Agent
from routing.choices import ChangeSource
from routing.engine.inputs import Snapshot
from routing.models import LLMModel, Strategy
from routing.services.durations import parse_duration

MSG_UNKNOWN_STRATEGY = "Unknown strategy '{key}'. Configured: {known}."
MSG_UNKNOWN_MODEL = "Unknown model '{key}': it is not in the model registry."
MSG_UNKNOWN_AGENT = "Unknown agent '{key}'."
MSG_CUSTOM_MISSING = 'Type a duration, like "90m" or "1d".'
MSG_BAD_CURSOR = "That page link is malformed; start again from the newest entries."

CUSTOM = "custom"
UNTIL_ENDED = ""
DURATION_CHOICES = [
    ("15m", "15 min"),
    ("1h", "1 hour"),
    ("2h", "2 hours"),
    ("8h", "8 hours"),
    (CUSTOM, "Custom"),
]
REASON_MAX = 2000
TASK_ID_MAX = 200  # as long as the override table keeps


@dataclass(frozen=True)
class Choices:
    """What the select boxes offer: keys from the configuration snapshot (no query)."""

    strategies: tuple[str, ...]
    agents: tuple[str, ...]
    models: tuple[str, ...]

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> Choices:
        return cls(
            strategies=tuple(sorted(snapshot.strategies)),
            agents=tuple(sorted(snapshot.agents)),
            models=tuple(sorted(k for k, m in snapshot.models.items() if m.enabled)),
        )


def _options(keys: Iterable[str], blank: str | None = None) -> list[tuple[str, str]]:
    head = [] if blank is None else [("", blank)]
    return head + [(key, key) for key in keys]


def _reason(required: bool = True) -> forms.CharField:
    return forms.CharField(
        max_length=REASON_MAX,
        required=required,
        widget=forms.TextInput(attrs={"placeholder": "Why (kept in the change log)"}),
    )


def _strategy(key: str) -> Strategy:
    strategy = Strategy.objects.filter(key=key).first()
    if strategy is None:
        known = ", ".join(Strategy.objects.values_list("key", flat=True)) or "none"
        raise forms.ValidationError(MSG_UNKNOWN_STRATEGY.format(key=key, known=known))
    return strategy


def _agent(key: str) -> Agent:
    agent = Agent.objects.filter(key=key).first()
    if agent is None:
        raise forms.ValidationError(MSG_UNKNOWN_AGENT.format(key=key))
    return agent


def _model(key: str) -> LLMModel:
    model = LLMModel.objects.filter(key=key).first()
    if model is None:
        raise forms.ValidationError(MSG_UNKNOWN_MODEL.format(key=key))
    return model


class DurationForm(forms.Form):
    """A preset (15 min to 8 h) or a custom duration ("90m", "1d"): `cleaned_data["length"]`."""

    duration = forms.ChoiceField(choices=DURATION_CHOICES, initial="1h", widget=forms.RadioSelect)
    custom_duration = forms.CharField(
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "90m, 1d, 1h30m", "size": 10}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        choice = cleaned.get("duration")
        if choice is None:
            return cleaned
        field = "custom_duration" if choice == CUSTOM else "duration"
        text = cleaned.get("custom_duration", "") if choice == CUSTOM else choice
        if not text:
            self.add_error(field, MSG_CUSTOM_MISSING)
            return cleaned
        try:
            cleaned["length"] = parse_duration(text)
        except ValueError as exc:
            self.add_error(field, str(exc))
        return cleaned


class StrategySwitchForm(DurationForm):
    strategy = forms.CharField(widget=forms.Select)
    agent = forms.CharField(required=False, widget=forms.Select)
    reason = _reason()

    field_order = ["strategy", "agent", "duration", "custom_duration", "reason"]

    def __init__(self, *args: Any, choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["strategy"].widget.choices = _options(choices.strategies)
        self.fields["agent"].widget.choices = _options(choices.agents, blank="All requests")

    def clean_strategy(self) -> Strategy:
        return _strategy(self.cleaned_data["strategy"])

    def clean_agent(self) -> Agent | None:
        key = self.cleaned_data["agent"]
        return _agent(key) if key else None


class StrategyEndForm(forms.Form):
    agent = forms.CharField(required=False, widget=forms.HiddenInput)
    reason = _reason(required=False)

    def clean_agent(self) -> Agent | None:
        key = self.cleaned_data["agent"]
        return _agent(key) if key else None


class AgentModelForm(DurationForm):
    agent = forms.CharField(widget=forms.Select)
    model = forms.CharField(widget=forms.Select)
    reason = _reason()

    field_order = ["agent", "model", "duration", "custom_duration", "reason"]

    def __init__(self, *args: Any, choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agent"].widget.choices = _options(choices.agents)
        self.fields["model"].widget.choices = _options(choices.models)

    def clean_agent(self) -> Agent:
        return _agent(self.cleaned_data["agent"])

    def clean_model(self) -> LLMModel:
        return _model(self.cleaned_data["model"])


class AgentModelEndForm(forms.Form):
    agent = forms.CharField(widget=forms.HiddenInput)
    reason = _reason(required=False)

    def clean_agent(self) -> Agent:
        return _agent(self.cleaned_data["agent"])


class TaskOverrideForm(DurationForm):
    task_id = forms.CharField(
        max_length=TASK_ID_MAX, widget=forms.TextInput(attrs={"placeholder": "task id"})
    )
    model = forms.CharField(widget=forms.Select)
    reason = _reason()

    field_order = ["task_id", "model", "duration", "custom_duration", "reason"]

    def __init__(self, *args: Any, choices: Choices, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].widget.choices = _options(choices.models)

    def clean_model(self) -> LLMModel:
        return _model(self.cleaned_data["model"])


class TaskEndForm(forms.Form):
    task_id = forms.CharField(max_length=TASK_ID_MAX, widget=forms.HiddenInput)
    reason = _reason(required=False)


class ForceLocalForm(forms.Form):
    """Turn force-local on (until turned off, or for a while) or off. Admins only."""

    enabled = forms.TypedChoiceField(
        choices=[("on", "on"), ("off", "off")],
        coerce=lambda value: value == "on",
        widget=forms.HiddenInput,
    )
    duration = forms.CharField(
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "until turned off, or 2h", "size": 18}),
    )
    reason = _reason()

    def clean_duration(self) -> timedelta | None:
        text = self.cleaned_data["duration"].strip()
        if not text:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ChangeLogFilterForm(forms.Form):
    """The change log's filters and its cursor ("before": the last entry seen)."""

    target_type = forms.CharField(required=False, widget=forms.Select)
    actor = forms.CharField(
        required=False, max_length=150, widget=forms.TextInput(attrs={"placeholder": "username"})
    )
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *ChangeSource.choices])
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, target_types: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_type"].widget.choices = _options(target_types, blank="Any target")

    def clean_before(self) -> tuple[datetime, int] | None:
        token = self.cleaned_data["before"]
        return parse_cursor(token) if token else None


def make_cursor(created_at: datetime, pk: int) -> str:
    return f"{created_at.isoformat()}~{pk}"


def parse_cursor(token: str) -> tuple[datetime, int]:
    """ "2026-11-25T12:00:00+00:00~42" -> (that time, 42); ValidationError otherwise."""
    stamp, _, pk = token.rpartition("~")
    try:
        at = datetime.fromisoformat(stamp)
        number = int(pk)
    except ValueError as exc:
        raise forms.ValidationError(MSG_BAD_CURSOR) from exc
    if at.tzinfo is None or number < 1:
        raise forms.ValidationError(MSG_BAD_CURSOR)
    return at, number
