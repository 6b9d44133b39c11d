"""Input of the Simulator page: a request to decide (dry run) and a what-if over a time
range of stored traffic.

The decide form turns its fields into the body of `POST /api/route` and validates it
with the API's own serializer, so the page accepts exactly what the API accepts and says
so in the same words; the view hands the validated body to the route service. The
what-if form resolves its time-range preset into `since` and `until`. No routing rule
lives here: an unknown agent or strategy is left for the services to refuse, so the page
shows the API's message for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings

from routing.api import errors
from routing.api.analysis_serializers import MSG_UNTIL_BEFORE_SINCE
from routing.api.serializers import COMPLEXITY_WORDS, RouteRequestSerializer
from routing.services.simulate import DEFAULT_LIMIT, MAX_LIMIT

MSG_SCHEMA_NOT_JSON = "The response schema is not valid JSON: {error}"
MSG_SINCE_NEEDED = "Give the start of the range, or pick a preset."
MSG_PROMPT_TOO_LARGE = errors.MSG_TOO_LARGE

FORM_DATETIME = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> shows
INFER = "infer from the prompt"
DEFAULT_SCHEMA = '{"type": "object"}'
CUSTOM = "custom"
PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
RANGE_CHOICES = [("24h", "Last 24 hours"), ("7d", "Last 7 days"), (CUSTOM, "From … to …")]

# Where an error of the route serializer (by its path in the body) is shown on the form.
_FIELD_OF_PATH = {
    ("agent",): "agent",
    ("task", "id"): "task_id",
    ("task", "type"): "task_type",
    ("task", "complexity"): "complexity",
    ("task", "classification"): "classification",
    ("task", "privacy_level"): "privacy_level",
    ("session_id",): "session_id",
    ("max_tokens",): "max_tokens",
    ("messages",): "prompt",
    ("response_schema",): "response_schema",
}
_TASK_FIELDS = {
    "task_id": "id",
    "task_type": "type",
    "complexity": "complexity",
    "classification": "classification",
    "privacy_level": "privacy_level",
}


def _options(keys: Iterable[str], blank: str) -> list[tuple[str, str]]:
    return [("", blank), *((key, key) for key in keys)]


def _flatten(detail: Any, path: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], str]]:
    """(path, message) pairs from a DRF error detail (nested dicts and lists)."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            yield from _flatten(value, (*path, str(key)))
    elif isinstance(detail, list):
        for item in detail:
            yield from _flatten(item, path)
    else:
        yield path, str(detail)


def _complexity(value: str) -> int | str:
    return int(value) if value.isdigit() else value


class DecideForm(forms.Form):
    """A request as a service would send it to `POST /api/route` with `dry_run`."""

    agent = forms.CharField(max_length=64, required=False)
    task_id = forms.CharField(label="Task id", max_length=200, required=False)
    task_type = forms.CharField(
        label="Task type",
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "task-types", "placeholder": INFER}),
    )
    complexity = forms.ChoiceField(
        choices=[
            ("", INFER),
            *((word, word) for word in COMPLEXITY_WORDS),
            *((str(n), f"{n} / 10") for n in range(1, 11)),
        ],
        required=False,
    )
    classification = forms.ChoiceField(
        choices=_options(("routine", "creative", "critical"), INFER), required=False
    )
    privacy_level = forms.ChoiceField(
        label="Privacy level", choices=_options(("low", "medium", "high"), INFER), required=False
    )
    session_id = forms.CharField(label="Session id", max_length=200, required=False)
    max_tokens = forms.IntegerField(
        label="Max tokens", min_value=1, max_value=1_000_000, required=False
    )
    prompt = forms.CharField(
        strip=False, widget=forms.Textarea(attrs={"rows": 6, "placeholder": "The user message"})
    )
    schema_on = forms.BooleanField(label="Ask for JSON matching a schema", required=False)
    response_schema = forms.CharField(
        label="Response schema (JSON Schema)",
        required=False,
        initial=DEFAULT_SCHEMA,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, agents: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A select box, but any key is passed on: an agent deleted since the page was
        # drawn is refused by the engine with the API's message, not by the form.
        self.fields["agent"].widget = forms.Select(choices=_options(agents, "(no agent)"))

    def clean_prompt(self) -> str:
        prompt: str = self.cleaned_data["prompt"]
        size, limit = len(prompt.encode()), settings.SWITCHBOARD_MAX_BODY_BYTES
        if size > limit:
            raise forms.ValidationError(MSG_PROMPT_TOO_LARGE.format(size=size, limit=limit))
        return prompt

    def _body(self, data: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": [{"role": "user", "content": data["prompt"]}],
            "dry_run": True,
        }
        task = {key: data[name] for name, key in _TASK_FIELDS.items() if data.get(name)}
        if "complexity" in task:
            task["complexity"] = _complexity(task["complexity"])
        if task:
            body["task"] = task
        for name in ("agent", "session_id", "max_tokens"):
            if data.get(name):
                body[name] = data[name]
        return body

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        body = self._body(cleaned)
        if cleaned.get("schema_on"):
            try:
                body["response_schema"] = json.loads(cleaned.get("response_schema") or "")
            except json.JSONDecodeError as exc:
                self.add_error("response_schema", MSG_SCHEMA_NOT_JSON.format(error=exc))
                return cleaned
        serializer = RouteRequestSerializer(data=body)
        if not serializer.is_valid():
            for path, message in _flatten(serializer.errors):
                self.add_error(
                    _FIELD_OF_PATH.get(path[:2]) or _FIELD_OF_PATH.get(path[:1]), message
                )
            return cleaned
        cleaned["body"] = serializer.validated_data
        return cleaned


class WhatIfForm(forms.Form):
    """A strategy and a time range of stored traffic to re-decide under it."""

    strategy = forms.CharField(max_length=64)
    range = forms.ChoiceField(
        label="Time range", choices=RANGE_CHOICES, initial="24h", widget=forms.RadioSelect
    )
    since = forms.DateTimeField(
        label="From (UTC)",
        required=False,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": "1"}, format=FORM_DATETIME
        ),
    )
    until = forms.DateTimeField(
        label="To (UTC)",
        required=False,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": "1"}, format=FORM_DATETIME
        ),
    )
    limit = forms.IntegerField(
        min_value=1,
        max_value=MAX_LIMIT,
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": str(DEFAULT_LIMIT)}),
        help_text=f"At most this many requests, oldest first (default {DEFAULT_LIMIT:,}).",
    )

    def __init__(
        self, *args: Any, strategies: Iterable[str] = (), now: datetime, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.now = now
        # As for agents: an unknown strategy is the simulate service's to refuse.
        self.fields["strategy"].widget = forms.Select(choices=[(k, k) for k in strategies])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        choice = cleaned.get("range")
        if choice in PRESETS:
            cleaned["since"], cleaned["until"] = self.now - PRESETS[choice], self.now
        elif choice == CUSTOM:
            since, until = cleaned.get("since"), cleaned.get("until") or self.now
            if since is None:
                if "since" not in self.errors:
                    self.add_error("since", MSG_SINCE_NEEDED)
            elif until <= since:
                self.add_error("until", MSG_UNTIL_BEFORE_SINCE)
            cleaned["until"] = until
        cleaned["limit"] = cleaned.get("limit") or DEFAULT_LIMIT
        return cleaned
