"""Enumerations shared by routing models, the importer and (later) the engine."""

from __future__ import annotations

from django.db import models


class ProviderKind(models.TextChoices):
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"
    OLLAMA = "ollama", "Ollama"
    SIMULATED = "simulated", "Simulated (no network; canned answers)"


class Tier(models.TextChoices):
    """Seed 003's provider hierarchy."""

    LOCAL = "local", "Local"
    FAST_CLOUD = "fast_cloud", "Fast cloud"
    PREMIUM = "premium", "Premium cloud"


class ModelType(models.TextChoices):
    CLOUD = "cloud", "Cloud"
    LOCAL = "local", "Local"


class PrivacyLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class RuleScope(models.TextChoices):
    GLOBAL = "global", "Global"
    AGENT = "agent", "Agent"


class RuleAction(models.TextChoices):
    """What a matching rule does. `force_local_model` and `switch_to_local_only` (seed
    002 uses both) mean the same: only local models stay eligible. Both are kept as
    written so an exported file reads like the one imported."""

    USE_MODEL = "use_model", "Use a model"
    FORCE_LOCAL = "force_local_model", "Force a local model"
    SWITCH_TO_LOCAL_ONLY = "switch_to_local_only", "Switch to local models only"
    SWITCH_TO_FALLBACK = "switch_to_fallback", "Switch to the fallback"
    REQUIRE_CLOUD_VERIFICATION = "require_cloud_verification", "Require cloud verification"
    DENY = "deny", "Deny the request"


LOCAL_ONLY_ACTIONS = frozenset({RuleAction.FORCE_LOCAL, RuleAction.SWITCH_TO_LOCAL_ONLY})

RULE_ACTION_ALIASES = {
    "force_local": RuleAction.FORCE_LOCAL,
    "model": RuleAction.USE_MODEL,
}


class OverrideScope(models.TextChoices):
    GLOBAL = "global", "Global"
    AGENT = "agent", "Agent"


class BudgetScope(models.TextChoices):
    GLOBAL = "global", "Global"
    AGENT = "agent", "Agent"
    PROVIDER = "provider", "Provider"
    MODEL = "model", "Model"


class BudgetPeriod(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class LedgerScope(models.TextChoices):
    GLOBAL = "global", "Global"
    AGENT = "agent", "Agent"
    PROVIDER = "provider", "Provider"
    MODEL = "model", "Model"


class DecisionOutcome(models.TextChoices):
    SUCCESS = "success", "Answered"
    FAILED = "failed", "All models failed"
    REFUSED = "refused", "Refused before execution"
    DRY_RUN = "dry_run", "Dry run"


class AttemptOutcome(models.TextChoices):
    """Seed 001's attempt outcomes."""

    SUCCESS = "success", "Success"
    REJECTED = "rejected", "Rejected"
    INVALID = "invalid", "Invalid output"


class ChangeSource(models.TextChoices):
    API = "api", "API"
    DASHBOARD = "dashboard", "Dashboard"
    ADMIN = "admin", "Django admin"
    IMPORT = "import", "Configuration import"
    CLI = "cli", "Command line"
    SYSTEM = "system", "System (expiry, tasks)"


class ApiScope(models.TextChoices):
    ROUTE = "route", "Route requests"
    STATUS = "status", "Read status"


ROUTING_FACTORS = (
    "task_complexity",
    "cost_efficiency",
    "privacy_requirements",
    "performance_needs",
    "model_availability",
)

BUILTIN_STRATEGIES = ("cost_optimized", "performance_optimized", "privacy_first", "balanced")

# Seed 003's complexity bands for its task-type routing table. "medium" is seed 003's
# word; the engine maps seed 000's four levels onto these.
TASK_ROUTE_BANDS = ("simple", "medium", "complex", "all", "short", "long")
