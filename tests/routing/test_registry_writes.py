"""routing.services.registry_writes: the one path by which the API, the dashboard and the
admin write the registry, its change-log entry and the configuration revision, together
or not at all."""

from __future__ import annotations

from decimal import Decimal

import pytest

from routing.choices import ChangeSource
from routing.models import ApiKey, ChangeLogEntry, LLMModel, Provider, RoutingRule
from routing.services import api_key_create, config_revision_current, registry_writes
from routing.services.registry_writes import (
    MSG_IN_USE,
    RegistryInUse,
    change_log_name,
    registry_delete,
    registry_save,
    registry_snapshot,
    registry_write_many,
)
from tests.factories import (
    make_agent,
    make_budget,
    make_model,
    make_provider,
    make_rule,
    make_session_token_budget,
)

pytestmark = pytest.mark.django_db

WHO = {"actor": None, "source": ChangeSource.CLI}


def test_a_new_row_is_saved_logged_and_versioned() -> None:
    version = config_revision_current()
    provider = registry_save(
        Provider(name="groq", kind="openai_compatible", tier="fast_cloud"),
        reason="new vendor",
        **WHO,
    )
    assert Provider.objects.get(pk=provider.pk).name == "groq"
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_key, entry.reason) == (
        "provider.create",
        "provider",
        "groq",
        "new vendor",
    )
    assert (entry.source, entry.actor_label) == (ChangeSource.CLI, "system")
    assert entry.before is None
    assert entry.after["name"] == "groq"
    assert config_revision_current() == version + 1


def test_an_update_logs_the_stored_row_as_before_even_when_the_instance_was_changed() -> None:
    model = make_model(key="m", cost_input_per_1k=Decimal("1"))
    model.cost_input_per_1k = Decimal("2")
    registry_save(model, **WHO)
    entry = ChangeLogEntry.objects.get()
    assert entry.action == "llmmodel.update"
    assert Decimal(entry.before["cost_input_per_1k"]) == Decimal("1")
    assert Decimal(entry.after["cost_input_per_1k"]) == Decimal("2")


def test_a_failed_revision_bump_leaves_neither_the_row_nor_its_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail() -> int:
        raise RuntimeError("revision store down")

    monkeypatch.setattr(registry_writes, "config_revision_bump", fail)
    with pytest.raises(RuntimeError):
        registry_save(Provider(name="groq", kind="simulated", tier="local"), **WHO)
    assert not Provider.objects.exists()
    assert not ChangeLogEntry.objects.exists()


def test_deleting_a_row_in_use_names_its_users_and_deletes_nothing() -> None:
    provider = make_provider(name="groq")
    make_model(key="groq-llama", provider=provider)
    make_model(key="groq-mixtral", provider=provider)
    version = config_revision_current()

    with pytest.raises(RegistryInUse) as caught:
        registry_delete(provider, **WHO)

    assert caught.value.used_by == ["model groq-llama", "model groq-mixtral"]
    assert str(caught.value) == MSG_IN_USE.format(
        target="groq", users="model groq-llama, model groq-mixtral"
    )
    assert Provider.objects.filter(name="groq").exists()
    assert not ChangeLogEntry.objects.exists()
    assert config_revision_current() == version


def test_a_deleted_rule_is_logged_under_the_id_it_had() -> None:
    rule = make_rule()
    pk = rule.pk
    registry_delete(rule, reason="obsolete", **WHO)
    assert not RoutingRule.objects.exists()
    entry = ChangeLogEntry.objects.get()
    assert (entry.action, entry.target_key, entry.reason) == (
        "routingrule.delete",
        str(pk),
        "obsolete",
    )
    assert entry.before["condition"] == rule.condition
    assert entry.after is None


def test_budgets_are_named_as_the_importer_names_them() -> None:
    model = make_model(key="gpt")
    assert change_log_name(make_budget()) == ("budget", "global:*:day")
    assert change_log_name(make_budget(model=model, period="month")) == (
        "budget",
        "model:gpt:month",
    )


def test_an_api_keys_secret_hash_never_reaches_the_change_log() -> None:
    created = api_key_create(name="svc")
    key = ApiKey.objects.get(pk=created.api_key.pk)
    assert "secret_hash" not in (registry_snapshot(key) or {})
    key.scopes = ["status"]
    registry_save(key, **WHO)
    entry = ChangeLogEntry.objects.filter(action="api_key.update").get()
    assert "secret_hash" not in entry.before
    assert "secret_hash" not in entry.after
    assert key.secret_hash not in str(entry.before) + str(entry.after)


def test_a_row_of_another_model_is_named_by_its_model_and_id() -> None:
    session_budget = make_session_token_budget()
    assert change_log_name(session_budget) == ("sessiontokenbudget", str(session_budget.pk))


def test_many_rows_are_written_each_with_its_entry_under_one_new_revision() -> None:
    provider = make_provider(name="ollama")
    llama = make_model(key="llama3", provider=provider)
    qwen = make_model(key="qwen2", provider=provider)
    provider.timeout_s = 5.0
    version = config_revision_current()

    written = registry_write_many(
        save=[provider, Provider(name="groq", kind="simulated", tier="local")],
        delete=[llama, qwen],
        reason="tidy up",
        **WHO,
    )

    assert written == 4
    assert sorted(Provider.objects.values_list("name", flat=True)) == ["groq", "ollama"]
    assert not LLMModel.objects.exists()
    entries = ChangeLogEntry.objects.order_by("id")
    assert [(e.action, e.target_key, e.reason) for e in entries] == [
        ("llmmodel.delete", "llama3", "tidy up"),
        ("llmmodel.delete", "qwen2", "tidy up"),
        ("provider.update", "ollama", "tidy up"),
        ("provider.create", "groq", "tidy up"),
    ]
    assert (entries[2].before["timeout_s"], entries[2].after["timeout_s"]) == (30.0, 5.0)
    assert config_revision_current() == version + 1


def test_a_row_deleted_among_many_is_logged_as_stored_not_as_edited() -> None:
    rule = make_rule(condition="data.contains_pii")
    rule.condition = "task.complexity > 9"  # an admin form edited it, then ticked "delete"

    registry_write_many(delete=[rule], **WHO)

    entry = ChangeLogEntry.objects.get()
    assert entry.before["condition"] == "data.contains_pii"


def test_a_row_already_gone_by_a_cascade_is_neither_deleted_again_nor_logged() -> None:
    agent = make_agent(key="cto")
    rule = make_rule(agent=agent)

    written = registry_write_many(delete=[agent, rule], **WHO)

    assert written == 1
    assert not RoutingRule.objects.exists()
    assert [e.action for e in ChangeLogEntry.objects.all()] == ["agent.delete"]


def test_a_row_in_use_among_many_stops_them_all() -> None:
    free = make_model(key="free")
    provider = make_provider(name="groq")
    make_model(key="groq-llama", provider=provider)
    version = config_revision_current()

    with pytest.raises(RegistryInUse) as caught:
        registry_write_many(delete=[free, provider], **WHO)

    assert caught.value.used_by == ["model groq-llama"]
    assert LLMModel.objects.filter(key="free").exists()
    assert Provider.objects.filter(name="groq").exists()
    assert not ChangeLogEntry.objects.exists()
    assert config_revision_current() == version


def test_nothing_to_write_leaves_the_revision_alone() -> None:
    version = config_revision_current()

    assert registry_write_many(save=[], delete=[], **WHO) == 0

    assert config_revision_current() == version
    assert not ChangeLogEntry.objects.exists()
