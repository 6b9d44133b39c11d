"""Budgets and the spend they are measured against."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from routing.choices import BudgetPeriod, BudgetScope, LedgerScope, RuleScope
from routing.models.registry import MONEY, LLMModel, Provider

SPEND = {"max_digits": 18, "decimal_places": 8}


class Budget(models.Model):
    """A spending limit for one scope (everything, an agent, a provider or a model) over a
    day or a month, with an optional cap per request and the share of the limit at
    which the engine starts warning (and the circuit breaker turns the scope local)."""

    scope = models.CharField(max_length=8, choices=BudgetScope.choices)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    model = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    period = models.CharField(max_length=8, choices=BudgetPeriod.choices, default=BudgetPeriod.DAY)
    limit_usd = models.DecimalField("limit (USD)", null=True, blank=True, **MONEY)
    per_request_limit_usd = models.DecimalField(
        "per-request limit (USD)", null=True, blank=True, **MONEY
    )
    warning_threshold = models.FloatField(default=0.8)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "period"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    scope=BudgetScope.GLOBAL,
                    agent__isnull=True,
                    provider__isnull=True,
                    model__isnull=True,
                )
                | Q(
                    scope=BudgetScope.AGENT,
                    agent__isnull=False,
                    provider__isnull=True,
                    model__isnull=True,
                )
                | Q(
                    scope=BudgetScope.PROVIDER,
                    agent__isnull=True,
                    provider__isnull=False,
                    model__isnull=True,
                )
                | Q(
                    scope=BudgetScope.MODEL,
                    agent__isnull=True,
                    provider__isnull=True,
                    model__isnull=False,
                ),
                name="budget_scope_matches_target",
            ),
            models.CheckConstraint(
                condition=Q(period__in=BudgetPeriod.values), name="budget_period_valid"
            ),
            models.CheckConstraint(
                condition=Q(limit_usd__isnull=False) | Q(per_request_limit_usd__isnull=False),
                name="budget_sets_a_limit",
            ),
            models.CheckConstraint(
                condition=Q(limit_usd__isnull=True) | Q(limit_usd__gte=0),
                name="budget_limit_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(per_request_limit_usd__isnull=True) | Q(per_request_limit_usd__gte=0),
                name="budget_per_request_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(warning_threshold__gt=0, warning_threshold__lte=1),
                name="budget_warning_threshold_0_to_1",
            ),
            models.UniqueConstraint(
                fields=["period"],
                condition=Q(scope=BudgetScope.GLOBAL),
                name="budget_one_global_per_period",
            ),
            models.UniqueConstraint(
                fields=["agent", "period"],
                condition=Q(scope=BudgetScope.AGENT),
                name="budget_one_per_agent_period",
            ),
            models.UniqueConstraint(
                fields=["provider", "period"],
                condition=Q(scope=BudgetScope.PROVIDER),
                name="budget_one_per_provider_period",
            ),
            models.UniqueConstraint(
                fields=["model", "period"],
                condition=Q(scope=BudgetScope.MODEL),
                name="budget_one_per_model_period",
            ),
        ]

    def __str__(self) -> str:
        target = self.agent_id or self.provider_id or self.model_id or "global"
        return f"{self.scope}:{target} per {self.period}"

    @property
    def target_key(self) -> str:
        """The ledger key of this budget's scope ("" for global)."""
        if self.scope == BudgetScope.AGENT:
            return self.agent.key
        if self.scope == BudgetScope.PROVIDER:
            return self.provider.name
        if self.scope == BudgetScope.MODEL:
            return self.model.key
        return ""


class SessionTokenBudget(models.Model):
    """Seed 004's session token budget: warn at one token count and switch a session to
    local models at a higher one. One global default, optionally one per agent."""

    scope = models.CharField(max_length=8, choices=RuleScope.choices, default=RuleScope.GLOBAL)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    warning_tokens = models.PositiveIntegerField(default=150_000)
    switch_tokens = models.PositiveIntegerField("switch to local at", default=180_000)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(scope=RuleScope.GLOBAL, agent__isnull=True)
                | Q(scope=RuleScope.AGENT, agent__isnull=False),
                name="session_budget_scope_matches_agent",
            ),
            models.CheckConstraint(
                condition=Q(warning_tokens__gt=0) & Q(warning_tokens__lt=models.F("switch_tokens")),
                name="session_budget_warning_below_switch",
            ),
            models.UniqueConstraint(
                fields=["scope"],
                condition=Q(scope=RuleScope.GLOBAL),
                name="session_budget_one_global",
            ),
            models.UniqueConstraint(
                fields=["agent"],
                condition=Q(scope=RuleScope.AGENT),
                name="session_budget_one_per_agent",
            ),
        ]

    def __str__(self) -> str:
        return f"session tokens ({self.agent_id or 'global'}): warn {self.warning_tokens}, local {self.switch_tokens}"


class SpendLedger(models.Model):
    """Money and tokens spent by one scope in one period (the day or month starting on
    `period_start`). Incremented atomically with F() expressions, never read-modify-write."""

    scope = models.CharField(max_length=8, choices=LedgerScope.choices)
    key = models.CharField(max_length=128, blank=True)
    period = models.CharField(max_length=8, choices=BudgetPeriod.choices)
    period_start = models.DateField()
    cost_usd = models.DecimalField(default=0, **SPEND)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    requests = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key", "period", "period_start"], name="spend_ledger_unique_bucket"
            ),
            models.CheckConstraint(
                condition=Q(cost_usd__gte=0), name="spend_ledger_cost_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(scope=LedgerScope.GLOBAL, key="")
                | (~Q(scope=LedgerScope.GLOBAL) & ~Q(key="")),
                name="spend_ledger_key_matches_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key or '*'} {self.period} {self.period_start}: ${self.cost_usd}"


class SessionUsage(models.Model):
    """Tokens and money one caller session has used, for seed 004's session budgets."""

    session_id = models.CharField(max_length=200, unique=True)
    tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(default=0, **SPEND)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"session {self.session_id}: {self.tokens} tokens"
