"""Agents (seed 002's agents.yaml)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from controlplane.lib.validators import validate_identifier_list, validate_key
from routing.choices import PrivacyLevel


class Agent(models.Model):
    """A kind of caller (a CTO agent, a backend agent) with its own model preferences,
    required capabilities, default privacy level and ordered routing rules."""

    key = models.CharField(max_length=64, unique=True, validators=[validate_key])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    primary_model = models.ForeignKey(
        "routing.LLMModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fallback_model = models.ForeignKey(
        "routing.LLMModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    local_alternative = models.ForeignKey(
        "routing.LLMModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    budget_mode_model = models.ForeignKey(
        "routing.LLMModel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    capabilities_required = models.JSONField(
        default=list, blank=True, validators=[validate_identifier_list]
    )
    default_privacy_level = models.CharField(
        max_length=8, choices=PrivacyLevel.choices, default=PrivacyLevel.LOW
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(default_privacy_level__in=PrivacyLevel.values),
                name="agent_privacy_level_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.key
