"""The routing tables' invariants, enforced by the database itself, and the services and
admin that write to them.

Each invariant test creates the bad row with `objects.create` (no `full_clean`), so the
only thing that can refuse it is a constraint. CHECK violations are matched by
constraint name (SQLite and PostgreSQL both report it); unique violations are not,
because SQLite names the columns instead of the index.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from controlplane.lib.validators import validate_env_var_name
from routing.choices import (
    BudgetPeriod,
    BudgetScope,
    ChangeSource,
    LedgerScope,
    ModelType,
    OverrideScope,
    ProviderKind,
    RuleAction,
    RuleScope,
    Tier,
)
from routing.models import (
    ApiKey,
    BatchItem,
    BatchJob,
    ChangeLogEntry,
    ConfigRevision,
    ConfigSnapshot,
    ControlState,
    Decision,
    Experiment,
    ExperimentVariant,
    FallbackStep,
    ModelHealth,
    Provider,
    RoutingFactor,
    RoutingRule,
    RoutingSettings,
    TaskRoute,
)
from routing.services import (
    ApiKeyCreated,
    api_key_create,
    config_revision_bump,
    config_revision_current,
)
from tests.factories import (
    make_agent,
    make_agent_model_override,
    make_budget,
    make_change_log_entry,
    make_decision,
    make_environment,
    make_model,
    make_provider,
    make_rule,
    make_session_token_budget,
    make_spend_ledger,
    make_strategy,
    make_strategy_override,
    make_task_override,
)

pytestmark = pytest.mark.django_db


# Providers and models


@pytest.mark.parametrize("timeout_s", [0, -1.5])
def test_a_provider_timeout_of_zero_or_less_is_rejected(timeout_s: float) -> None:
    with pytest.raises(IntegrityError, match="provider_timeout_positive"), transaction.atomic():
        make_provider(timeout_s=timeout_s)


def test_a_provider_api_key_env_that_looks_like_a_secret_is_rejected() -> None:
    with (
        pytest.raises(IntegrityError, match="provider_api_key_env_is_a_name"),
        transaction.atomic(),
    ):
        make_provider(api_key_env="sk-abc")


def test_a_provider_api_key_env_that_names_a_variable_is_allowed() -> None:
    assert make_provider(api_key_env="OPENAI_API_KEY").api_key_env == "OPENAI_API_KEY"


def test_full_clean_explains_that_api_key_env_takes_a_variable_name() -> None:
    provider = Provider(
        name="openai", kind=ProviderKind.OPENAI_COMPATIBLE, tier=Tier.PREMIUM, api_key_env="sk-abc"
    )

    with pytest.raises(ValidationError) as excinfo:
        provider.full_clean()

    assert excinfo.value.message_dict == {"api_key_env": [validate_env_var_name.message]}


def test_an_unknown_provider_kind_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="provider_kind_valid"), transaction.atomic():
        make_provider(kind="carrier_pigeon")


def test_two_models_with_the_same_upstream_id_at_one_provider_are_rejected() -> None:
    provider = make_provider()
    make_model(provider=provider, model_id="llama3")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_model(provider=provider, model_id="llama3")


def test_the_same_upstream_id_at_two_providers_is_allowed() -> None:
    make_model(provider=make_provider(), model_id="llama3")
    make_model(provider=make_provider(), model_id="llama3")


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("cost_input_per_1k", "model_input_cost_not_negative"),
        ("cost_output_per_1k", "model_output_cost_not_negative"),
    ],
)
def test_negative_model_costs_are_rejected(field: str, constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        make_model(**{field: Decimal("-0.001")})


def test_an_unpriced_model_is_allowed() -> None:
    model = make_model(type=ModelType.CLOUD, cost_input_per_1k=None, cost_output_per_1k=None)

    assert model.cost_input_per_1k is None


# Strategies


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_a_strategy_confidence_threshold_outside_0_to_1_is_rejected(threshold: float) -> None:
    with (
        pytest.raises(IntegrityError, match="strategy_confidence_threshold_0_to_1"),
        transaction.atomic(),
    ):
        make_strategy(confidence_threshold=threshold)


@pytest.mark.parametrize("threshold", [0, 11])
def test_a_strategy_complexity_threshold_outside_1_to_10_is_rejected(threshold: int) -> None:
    with (
        pytest.raises(IntegrityError, match="strategy_complexity_threshold_1_to_10"),
        transaction.atomic(),
    ):
        make_strategy(complexity_threshold=threshold)


@pytest.mark.parametrize(("complexity", "confidence"), [(1, 0.0), (10, 1.0)])
def test_strategy_thresholds_at_their_bounds_are_allowed(
    complexity: int, confidence: float
) -> None:
    make_strategy(complexity_threshold=complexity, confidence_threshold=confidence)


# Rules


def test_a_global_rule_with_an_agent_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="rule_scope_matches_agent"), transaction.atomic():
        make_rule(agent=make_agent(), scope=RuleScope.GLOBAL)


def test_an_agent_rule_without_an_agent_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="rule_scope_matches_agent"), transaction.atomic():
        make_rule(scope=RuleScope.AGENT)


def test_a_use_model_rule_without_a_model_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="rule_use_model_names_a_model"), transaction.atomic():
        make_rule(action=RuleAction.USE_MODEL, model=None)


def test_a_use_model_rule_with_a_model_is_allowed() -> None:
    make_rule(action=RuleAction.USE_MODEL, model=make_model())


def test_two_global_rules_with_the_same_name_are_rejected() -> None:
    make_rule(name="pii_stays_local")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_rule(name="pii_stays_local")


def test_two_unnamed_global_rules_are_allowed() -> None:
    make_rule(name="")
    make_rule(name="")


def test_two_global_rules_at_the_same_position_are_rejected() -> None:
    make_rule(position=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_rule(position=1)


def _rule_with_condition(condition: str) -> RoutingRule:
    return RoutingRule(
        scope=RuleScope.GLOBAL,
        name="a_rule",
        position=1,
        condition=condition,
        action=RuleAction.FORCE_LOCAL,
    )


def _condition_errors(rule: RoutingRule) -> list[str]:
    with pytest.raises(ValidationError) as excinfo:
        rule.full_clean()
    assert list(excinfo.value.message_dict) == ["condition"]
    return excinfo.value.message_dict["condition"]


def test_full_clean_reports_an_unknown_name_in_a_condition_with_its_position() -> None:
    [message] = _condition_errors(_rule_with_condition("task.nope == 1"))

    assert message.startswith("line 1, column 1: ")
    assert "task.nope" in message


def test_full_clean_reports_an_unfinished_condition_at_its_end() -> None:
    # 18 characters; the parser points just past the last one.
    [message] = _condition_errors(_rule_with_condition("task.complexity > "))

    assert message.startswith("line 1, column 19: ")


def test_full_clean_accepts_a_valid_condition() -> None:
    _rule_with_condition("task.complexity > 7 and not data.contains_pii").full_clean()


# Overrides


def test_two_open_global_strategy_overrides_are_rejected() -> None:
    make_strategy_override()

    with pytest.raises(IntegrityError), transaction.atomic():
        make_strategy_override()


def test_a_global_strategy_override_is_allowed_once_the_previous_one_has_ended() -> None:
    now = timezone.now()
    make_strategy_override(starts_at=now - timedelta(hours=2), ended_at=now)

    make_strategy_override(starts_at=now)


def test_two_open_strategy_overrides_for_the_same_agent_are_rejected() -> None:
    agent = make_agent()
    make_strategy_override(agent=agent)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_strategy_override(agent=agent)


def test_open_strategy_overrides_for_two_agents_and_globally_are_allowed() -> None:
    make_strategy_override(agent=make_agent())
    make_strategy_override(agent=make_agent())
    make_strategy_override()


def test_a_global_strategy_override_naming_an_agent_is_rejected() -> None:
    with (
        pytest.raises(IntegrityError, match="strategy_override_scope_matches_agent"),
        transaction.atomic(),
    ):
        make_strategy_override(agent=make_agent(), scope=OverrideScope.GLOBAL)


def test_a_strategy_override_without_an_expiry_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="strategy_override_has_expiry"), transaction.atomic():
        make_strategy_override(expires_at=None)


def test_two_open_model_overrides_for_the_same_agent_are_rejected() -> None:
    agent = make_agent()
    make_agent_model_override(agent=agent)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_agent_model_override(agent=agent)


def test_a_model_override_without_an_expiry_is_allowed() -> None:
    assert make_agent_model_override(expires_at=None).expires_at is None


def test_two_open_overrides_for_the_same_task_are_rejected() -> None:
    make_task_override(task_id="task-42")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_task_override(task_id="task-42")


OVERRIDE_FACTORIES: list[tuple[Callable[..., models.Model], str]] = [
    (make_strategy_override, "strategy_override"),
    (make_agent_model_override, "agent_model_override"),
    (make_task_override, "task_override"),
]
OVERRIDE_IDS = [prefix for _, prefix in OVERRIDE_FACTORIES]


@pytest.mark.parametrize(("factory", "prefix"), OVERRIDE_FACTORIES, ids=OVERRIDE_IDS)
def test_an_override_that_expires_before_it_starts_is_rejected(
    factory: Callable[..., models.Model], prefix: str
) -> None:
    now = timezone.now()

    with pytest.raises(IntegrityError, match=f"{prefix}_expires_after_start"), transaction.atomic():
        factory(starts_at=now, expires_at=now - timedelta(minutes=1))


@pytest.mark.parametrize(("factory", "prefix"), OVERRIDE_FACTORIES, ids=OVERRIDE_IDS)
def test_an_override_that_ends_before_it_starts_is_rejected(
    factory: Callable[..., models.Model], prefix: str
) -> None:
    now = timezone.now()

    with pytest.raises(IntegrityError, match=f"{prefix}_ends_after_start"), transaction.atomic():
        factory(starts_at=now, ended_at=now - timedelta(minutes=1))


@pytest.mark.parametrize(("factory", "prefix"), OVERRIDE_FACTORIES, ids=OVERRIDE_IDS)
def test_an_override_without_a_reason_is_rejected(
    factory: Callable[..., models.Model], prefix: str
) -> None:
    with pytest.raises(IntegrityError, match=f"{prefix}_has_reason"), transaction.atomic():
        factory(reason="")


# Singletons and force-local


@pytest.mark.parametrize(
    ("model", "constraint"),
    [
        (ControlState, "control_state_singleton"),
        (RoutingSettings, "routing_settings_singleton"),
        (ConfigRevision, "config_revision_singleton"),
    ],
    ids=["ControlState", "RoutingSettings", "ConfigRevision"],
)
def test_a_singleton_row_other_than_id_1_is_rejected(
    model: type[models.Model], constraint: str
) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        model.objects.create(id=2)


def test_a_control_state_expiry_while_force_local_is_off_is_rejected() -> None:
    expires_at = timezone.now() + timedelta(hours=1)

    with (
        pytest.raises(IntegrityError, match="control_state_expiry_only_when_on"),
        transaction.atomic(),
    ):
        ControlState.objects.create(force_local=False, expires_at=expires_at)


def test_force_local_with_an_expiry_is_allowed() -> None:
    ControlState.objects.create(force_local=True, expires_at=timezone.now() + timedelta(hours=1))


# Budgets


@pytest.mark.parametrize(
    ("scope", "target"),
    [
        (BudgetScope.GLOBAL, "agent"),
        (BudgetScope.AGENT, None),
        (BudgetScope.AGENT, "provider"),
        (BudgetScope.PROVIDER, "model"),
        (BudgetScope.MODEL, "agent"),
    ],
)
def test_a_budget_whose_scope_does_not_match_its_target_is_rejected(
    scope: BudgetScope, target: str | None
) -> None:
    targets = {"agent": make_agent, "provider": make_provider, "model": make_model}
    fields: dict[str, Any] = {"scope": scope}
    if target is not None:
        fields[target] = targets[target]()

    with pytest.raises(IntegrityError, match="budget_scope_matches_target"), transaction.atomic():
        make_budget(**fields)


def test_a_budget_with_neither_limit_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="budget_sets_a_limit"), transaction.atomic():
        make_budget(limit_usd=None, per_request_limit_usd=None)


def test_a_budget_with_only_a_per_request_limit_is_allowed() -> None:
    make_budget(limit_usd=None, per_request_limit_usd=Decimal("0.50"))


@pytest.mark.parametrize(
    ("field", "constraint"),
    [
        ("limit_usd", "budget_limit_not_negative"),
        ("per_request_limit_usd", "budget_per_request_not_negative"),
    ],
)
def test_a_negative_budget_limit_is_rejected(field: str, constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        make_budget(**{field: Decimal("-1")})


@pytest.mark.parametrize("threshold", [0, 1.5])
def test_a_budget_warning_threshold_of_zero_or_above_one_is_rejected(threshold: float) -> None:
    with (
        pytest.raises(IntegrityError, match="budget_warning_threshold_0_to_1"),
        transaction.atomic(),
    ):
        make_budget(warning_threshold=threshold)


def test_a_budget_warning_threshold_of_one_is_allowed() -> None:
    make_budget(warning_threshold=1)


def test_two_global_day_budgets_are_rejected() -> None:
    make_budget(period=BudgetPeriod.DAY)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_budget(period=BudgetPeriod.DAY)


def test_a_global_day_budget_and_a_global_month_budget_are_allowed() -> None:
    make_budget(period=BudgetPeriod.DAY)
    make_budget(period=BudgetPeriod.MONTH)


def test_two_day_budgets_for_one_provider_are_rejected() -> None:
    provider = make_provider()
    make_budget(provider=provider)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_budget(provider=provider)


def test_two_day_budgets_for_one_model_are_rejected() -> None:
    model = make_model()
    make_budget(model=model)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_budget(model=model)


@pytest.mark.parametrize("warning_tokens", [180_000, 200_000])
def test_a_session_token_budget_warning_at_or_above_the_switch_is_rejected(
    warning_tokens: int,
) -> None:
    with (
        pytest.raises(IntegrityError, match="session_budget_warning_below_switch"),
        transaction.atomic(),
    ):
        make_session_token_budget(warning_tokens=warning_tokens, switch_tokens=180_000)


def test_two_global_session_token_budgets_are_rejected() -> None:
    make_session_token_budget()

    with pytest.raises(IntegrityError), transaction.atomic():
        make_session_token_budget()


# The spend ledger


def test_a_negative_spend_is_rejected() -> None:
    with (
        pytest.raises(IntegrityError, match="spend_ledger_cost_not_negative"),
        transaction.atomic(),
    ):
        make_spend_ledger(cost_usd=Decimal("-0.01"))


def test_a_global_ledger_row_with_a_key_is_rejected() -> None:
    with (
        pytest.raises(IntegrityError, match="spend_ledger_key_matches_scope"),
        transaction.atomic(),
    ):
        make_spend_ledger(scope=LedgerScope.GLOBAL, key="agent-1")


def test_an_agent_ledger_row_without_a_key_is_rejected() -> None:
    with (
        pytest.raises(IntegrityError, match="spend_ledger_key_matches_scope"),
        transaction.atomic(),
    ):
        make_spend_ledger(scope=LedgerScope.AGENT, key="")


def test_two_ledger_rows_for_the_same_bucket_are_rejected() -> None:
    make_spend_ledger(scope=LedgerScope.AGENT, key="cto")

    with pytest.raises(IntegrityError), transaction.atomic():
        make_spend_ledger(scope=LedgerScope.AGENT, key="cto")


# Audit tables


@pytest.mark.parametrize("field", ["cost_usd", "fallback_tax_usd"])
def test_a_decision_with_a_negative_cost_is_rejected(field: str) -> None:
    with pytest.raises(IntegrityError, match="decision_cost_not_negative"), transaction.atomic():
        make_decision(**{field: Decimal("-0.01")})


def test_a_decision_with_an_unknown_outcome_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="decision_outcome_valid"), transaction.atomic():
        make_decision(outcome="maybe")


def test_a_change_log_entry_from_an_unknown_source_is_rejected() -> None:
    with pytest.raises(IntegrityError, match="change_log_source_valid"), transaction.atomic():
        make_change_log_entry(source="fax")


# Environment profiles


def test_two_active_environment_profiles_are_rejected() -> None:
    make_environment(active=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_environment(active=True)


def test_any_number_of_inactive_environment_profiles_is_allowed() -> None:
    make_environment(active=True)
    make_environment(active=False)
    make_environment(active=False)


# API keys


@pytest.mark.parametrize(
    "secret_hash",
    [
        "sb_abcd1234_plaintext",
        "A" * 64,  # upper-case hex is not what hexdigest() writes
        "a" * 63,
    ],
    ids=["plaintext", "uppercase", "short"],
)
def test_an_api_key_hash_that_is_not_a_sha256_is_rejected(secret_hash: str) -> None:
    with pytest.raises(IntegrityError, match="api_key_hash_is_sha256"), transaction.atomic():
        ApiKey.objects.create(name="bad", prefix="abcd1234", secret_hash=secret_hash)


def test_api_key_create_stores_only_a_sha256_of_the_key(service_key: ApiKeyCreated) -> None:
    row = ApiKey.objects.values().get(pk=service_key.api_key.pk)
    secret = service_key.plaintext.removeprefix(f"sb_{service_key.api_key.prefix}_")

    assert row["secret_hash"] == hashlib.sha256(service_key.plaintext.encode()).hexdigest()
    assert not [column for column, value in row.items() if secret in str(value)], (
        "the secret part of the key was stored"
    )


def test_api_key_create_returns_a_plaintext_key_with_its_prefix(
    service_key: ApiKeyCreated,
) -> None:
    assert service_key.plaintext.startswith(f"sb_{service_key.api_key.prefix}_")
    assert len(service_key.plaintext) > len(f"sb_{service_key.api_key.prefix}_") + 32


def test_api_key_create_writes_a_change_log_entry_without_the_hash(
    service_key: ApiKeyCreated,
) -> None:
    entry = ChangeLogEntry.objects.get(action="api_key.create")
    logged = json.dumps([entry.before, entry.after, entry.reason])

    assert entry.target_key == "service"
    assert entry.after["name"] == "service"
    assert "secret_hash" not in entry.after
    assert service_key.api_key.secret_hash not in logged
    assert service_key.plaintext not in logged


def test_api_key_create_rejects_an_unknown_scope() -> None:
    with pytest.raises(ValidationError) as excinfo:
        api_key_create(name="svc", scopes=["route", "root"])

    assert list(excinfo.value.message_dict) == ["scopes"]
    assert not ApiKey.objects.exists()


# The config revision


def test_config_revision_bump_increments_the_version_each_time() -> None:
    start = config_revision_current()

    first = config_revision_bump()
    second = config_revision_bump()

    assert (first, second) == (start + 1, start + 2)
    assert config_revision_current() == start + 2
    assert ConfigRevision.objects.count() == 1


# The admin


def test_saving_a_provider_in_the_admin_logs_the_change_and_bumps_the_revision(
    admin_client: Client, admin_user: Any
) -> None:
    provider = make_provider(name="ollama", kind=ProviderKind.OLLAMA, timeout_s=30.0)
    version = config_revision_current()
    form = {
        "name": "ollama",
        "kind": ProviderKind.OLLAMA,
        "tier": Tier.LOCAL,
        "base_url": "http://127.0.0.1:11434",
        "api_key_env": "",
        "timeout_s": "12.5",
        "default_model": "",
        "model_roles": "{}",
        "rate_limit_rpm": "",
    }

    response = admin_client.post(reverse("admin:routing_provider_change", args=[provider.pk]), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = ChangeLogEntry.objects.get()
    assert (entry.source, entry.action, entry.target_type, entry.target_key) == (
        ChangeSource.ADMIN,
        "provider.update",
        "provider",
        "ollama",
    )
    assert entry.actor == admin_user
    assert entry.before["timeout_s"] == 30.0
    assert entry.before["base_url"] == ""
    assert entry.after["timeout_s"] == 12.5
    assert entry.after["base_url"] == "http://127.0.0.1:11434"
    assert config_revision_current() == version + 1


AUDIT_TABLES: list[tuple[type[models.Model], Callable[[], models.Model]]] = [
    (Decision, make_decision),
    (ChangeLogEntry, make_change_log_entry),
]


@pytest.mark.parametrize(("model", "factory"), AUDIT_TABLES, ids=["Decision", "ChangeLogEntry"])
def test_audit_tables_cannot_be_added_changed_or_deleted_in_the_admin(
    admin_client: Client, model: type[models.Model], factory: Callable[[], models.Model]
) -> None:
    row = factory()
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    before = model.objects.count()

    add = admin_client.get(reverse(f"{prefix}_add"))
    change = admin_client.post(reverse(f"{prefix}_change", args=[row.pk]), {})
    delete = admin_client.post(reverse(f"{prefix}_delete", args=[row.pk]), {"post": "yes"})
    view = admin_client.get(reverse(f"{prefix}_change", args=[row.pk]))

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert view.status_code == 200  # read-only view
    assert model.objects.count() == before


def _registered(app_label: str) -> list[type[models.Model]]:
    return sorted(
        (m for m in admin.site._registry if m._meta.app_label == app_label),
        key=lambda m: m._meta.model_name or "",
    )


ROUTING_ADMIN_MODELS = _registered("routing")


@pytest.fixture
def one_of_everything(admin_user: Any) -> None:
    """A row in every routing table the admin shows, so list columns really render."""
    strategy = make_strategy(key="balanced")
    agent = make_agent(key="cto")
    model = make_model(key="llama3", provider=make_provider(name="ollama"))
    make_rule(name="pii_stays_local", condition="data.contains_pii")
    make_rule(agent=agent, action=RuleAction.USE_MODEL, model=model)
    RoutingFactor.objects.create(name="cost_efficiency", weight=0.3)
    RoutingSettings.objects.create(default_strategy=strategy)
    ControlState.objects.create(force_local=True, reason="outage", author_label="ops")
    TaskRoute.objects.create(task_type="debug", band="simple", position=1, provider=model.provider)
    FallbackStep.objects.create(position=1, provider=model.provider)
    make_environment(name="production", active=True, default_strategy=strategy)
    make_strategy_override(strategy=strategy)
    make_strategy_override(agent=agent, strategy=strategy)
    make_agent_model_override(agent=agent, model=model)
    make_task_override(model=model)
    make_budget()
    make_budget(agent=agent)
    make_budget(provider=model.provider, period=BudgetPeriod.MONTH)
    make_budget(model=model)
    make_session_token_budget()
    make_session_token_budget(agent=agent, warning_tokens=10, switch_tokens=20)
    api_key_create(name="service", default_agent=agent, created_by=admin_user)
    make_decision(agent_key="cto", model_used="llama3")
    make_change_log_entry()
    experiment = Experiment.objects.create(key="llama-vs-qwen", agent=agent)
    ExperimentVariant.objects.create(experiment=experiment, model=model, weight=1)
    ConfigSnapshot.objects.create(version=1, data={"version": 1})
    job = BatchJob.objects.create(api_key_name="service", total=1)
    BatchItem.objects.create(job=job, index=0, request={"messages": []})
    ModelHealth.objects.create(model=model, healthy=False, error="connect: refused")


def test_every_routing_table_is_registered_in_the_admin() -> None:
    # Edited inline (variants, batch items), written only by the engine (revision, usage,
    # ledger) or derived from decisions by the rollup task (the dashboard shows them).
    unregistered = {
        "AttemptRollup",
        "BatchItem",
        "ConfigRevision",
        "DecisionRollup",
        "ExperimentVariant",
        "LatencyRollup",
        "PiiTypeRollup",
        "RollupWatermark",
        "SessionUsage",
        "SpendLedger",
    }
    expected = {m.__name__ for m in apps.get_app_config("routing").get_models()}

    assert {m.__name__ for m in ROUTING_ADMIN_MODELS} == expected - unregistered


@pytest.mark.parametrize(
    "model", ROUTING_ADMIN_MODELS, ids=[m.__name__ for m in ROUTING_ADMIN_MODELS]
)
@pytest.mark.usefixtures("one_of_everything")
def test_the_admin_changelist_renders(admin_client: Client, model: type[models.Model]) -> None:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    response = admin_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize(
    "model", ROUTING_ADMIN_MODELS, ids=[m.__name__ for m in ROUTING_ADMIN_MODELS]
)
@pytest.mark.usefixtures("one_of_everything")
def test_the_admin_change_page_renders(admin_client: Client, model: type[models.Model]) -> None:
    row = model._default_manager.first()
    assert row is not None
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[row.pk])

    response = admin_client.get(url)

    assert response.status_code == 200
