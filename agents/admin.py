from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from agents.models import Agent
from routing.admin import ChangeLoggedAdmin
from routing.choices import RuleScope
from routing.models import RoutingRule


class AgentRuleForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set before validation so the scope/agent constraint is checked on real values.
        self.instance.scope = RuleScope.AGENT


class RoutingRuleInline(admin.TabularInline):
    model = RoutingRule
    form = AgentRuleForm
    fk_name = "agent"
    fields = ["position", "condition", "action", "model", "enabled"]
    extra = 0
    ordering = ["position"]


@admin.register(Agent)
class AgentAdmin(ChangeLoggedAdmin):
    list_display = [
        "key",
        "name",
        "primary_model",
        "fallback_model",
        "local_alternative",
        "default_privacy_level",
    ]
    search_fields = ["key", "name"]
    inlines = [RoutingRuleInline]
