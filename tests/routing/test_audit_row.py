"""The audit row as decision_record writes it (orjson's JSON straight from the engine's
dataclasses, values passed as they are where the field's conversion would not change
them, the spend upserts only when there is something to write) against the long way:
Decision.to_dict(), the ORM's save and json.dumps. On SQLite, and on PostgreSQL when
DATABASE_URL names one: every column must read back the same, and the JSON columns must
be the same text in the database."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings

from routing.engine import result
from routing.engine.pii import mask_pii
from routing.engine.replay import decision_inputs
from routing.engine.result import Elimination, Flags, TraceStep
from routing.models import Decision, SessionUsage, SpendLedger
from routing.services import decisions
from routing.services.decisions import EXCERPT_CHARS, Outcome, decision_record
from routing.services.spend import Charge, Spend
from tests.engine_data import NOW, request, state
from tests.routing.test_engine_properties import PROPERTY, Case, cases
from tests.routing.test_route_fast_paths import engine_decisions

JSON_COLUMNS = ["pii_types", "chain", "attempts", "trace", "features"]


def reference_fields(
    *,
    decision: Any,
    outcome: Outcome,
    prompt_text: str,
    inputs: Mapping[str, Any],
    api_key: Any,
    agent: str | None,
    task_id: str | None,
    session_id: str | None,
    public_id: uuid.UUID | None = None,
    caller: str = "",
) -> dict[str, Any]:
    """The row's fields the long way, as decision_fields built them before orjson."""
    data = decision.to_dict()
    trace = {
        "steps": data["trace"],
        "eliminated": data["eliminated"],
        "errors": data["errors"],
        "flags": data["flags"],
        "refusal": data["refusal"],
        "strategy_source": decision.strategy_source,
        "verification": outcome.verification,
        "inputs": dict(inputs),
    }
    features = data["features"]
    return {
        "public_id": public_id or uuid.uuid4(),
        "created_at": timezone.now(),
        "api_key": api_key,
        "api_key_name": api_key.name if api_key else caller[:100],
        "agent_key": agent or "",
        "task_id": task_id or "",
        "session_id": session_id or "",
        "outcome": outcome.outcome,
        "error_code": outcome.error_code,
        "strategy": decision.strategy,
        "strategy_source": decision.strategy_source[:100],
        "model_used": outcome.model_used,
        "provider": outcome.provider,
        "complexity": features["complexity_level"]["value"],
        "complexity_score": features["complexity_score"]["value"],
        "task_type": str(features["task_type"]["value"])[:64],
        "privacy_level": features["privacy_level"]["value"],
        "pii_types": list(decision.pii_types),
        "local_only": decision.flags.local_only,
        "rule": (decision.rule or "")[:200],
        "warning_level": decision.warning_level,
        "chain": [c["model"] for c in data["chain"]],
        "attempts": outcome.attempts,
        "trace": trace,
        "features": features,
        "config_version": decision.config_version,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "usage_estimated": outcome.usage_estimated,
        "cost_usd": outcome.cost_usd,
        "fallback_tax_usd": outcome.fallback_tax_usd,
        "latency_ms": outcome.latency_ms,
        "cached": outcome.cached,
        "prompt_excerpt": mask_pii(prompt_text[: EXCERPT_CHARS * 8])[:EXCERPT_CHARS],
        "prompt_full": prompt_text if django_settings.SWITCHBOARD_STORE_FULL_PROMPTS else None,
    }


def same(a: Any, b: Any) -> bool:
    """Equal, with the same key order and the same JSON types (1 is not 1.0 or True)."""
    return a == b and json.dumps(a, default=repr) == json.dumps(b, default=repr)


# -- unusual values ------------------------------------------------------------------------

FLOATS = [0.1, 0.30000000000000004, 1e-7, 1e16, 1.5e300, -0.0, 5e-324, 2.0**53 + 1]
ODD = {
    "ünïcödé ✓": ["日本語", "emoji 🎉", 'quote " backslash \\ newline \n tab \t', ""],
    "floats": FLOATS,
    "ints": [0, -1, 2**53 + 1, 2**63 - 1, -(2**63)],
    "empty": [[], {}, ""],
    "none": None,
    "bools": [True, False],
}


def _with_odd_parts(decision: Any) -> Any:
    """The decision with what to_dict converts: read-only mappings, sets, tuples, a
    dataclass inside a step's detail, unicode and awkward floats."""
    odd_step = TraceStep(
        "odd",
        "kept",
        MappingProxyType(
            {
                "set": frozenset({"b", "a", "c"}),
                "tuple": (1, 2.5, None, ("x",)),
                "flags": Flags(local_only=True, verify_with_cloud="cloud-m"),
                "proxy": MappingProxyType({"inner": (1, 2)}),
                **ODD,
            }
        ),
    )
    # The same in plain dicts: orjson meets the set and the tuple itself.
    plain_step = TraceStep(
        "odd", "plain", {"set": {"z", "y"}, "tuple": ("t", 1), "fs": frozenset()}
    )
    elimination = Elimination(
        "m", "budgets", "why ✓", {"spent": 0.3, "tags": frozenset({"q", "p"})}
    )
    return dataclasses.replace(
        decision,
        trace=(*decision.trace, odd_step, plain_step),
        eliminated=(*decision.eliminated, elimination),
        errors=(*decision.errors, "a rule said 'ü'"),
        features=MappingProxyType(dict(decision.features)),
    )


def _base() -> Any:
    return engine_decisions()[1]  # PII, complexity given


DECISIONS = {
    **{f"engine {i}": d for i, d in enumerate(engine_decisions())},
    "odd parts": _with_odd_parts(_base()),
    # orjson refuses these; the row takes the long way, and stores the same.
    "int keys": dataclasses.replace(
        _base(), trace=(*_base().trace, TraceStep("odd", "int keys", {1: "a", 2.5: "b"}))
    ),
    "big int": dataclasses.replace(
        _base(), trace=(*_base().trace, TraceStep("odd", "big", {"n": 2**70}))
    ),
}
OUTCOMES = {
    "success": Outcome(
        "success",
        model_used="local-llama",
        provider="ollama",
        attempts=[
            {"model": "a", "outcome": "rejected", "reason": "timeout ✓", "latency_ms": 1000},
            {"model": "local-llama", "outcome": "success", "reason": None, "cost_usd": 0.1},
        ],
        prompt_tokens=71,
        completion_tokens=17,
        usage_estimated=True,
        cost_usd=0.0123456789,
        fallback_tax_usd=0.000001,
        latency_ms=41,
        cached=True,
        verification={"model": "cloud", "verdict": "APPROVE", "notes": ["ü", 0.1, None]},
    ),
    "refused": Outcome("refused", error_code="denied_by_rule"),
    "dry run": Outcome("dry_run", attempts=[], verification={}),
}
INPUTS = {
    "none": {},
    "a request": decision_inputs(
        request("hello", agent="support_agent", tags=("a", "b"), max_tokens=256),
        state(
            spend=MappingProxyType({("global", "", "day"): 1.25, ("agent", "x", "month"): 0.1}),
            session_tokens=1234,
            cooling_down=MappingProxyType({"m": NOW + timedelta(minutes=1)}),
            rate_usage=MappingProxyType({"m": 0.5}),
            unhealthy=frozenset({"z", "y"}),
        ),
        NOW,
    ),
    "odd": {"tuple": (1, (2, 3)), **ODD},
    "big int": {"n": 2**70},  # orjson refuses it: the long way
}
PROMPTS = [
    "Call me on +44 20 7946 0958 or mail jane@example.com about the ünïcode order 🎉 " * 30,
    "",
]


def _arguments(decision: Any, outcome: Outcome, inputs: Any, prompt: str, key: Any) -> dict:
    return {
        "decision": decision,
        "outcome": outcome,
        "prompt_text": prompt,
        "inputs": inputs,
        "api_key": key,
        "agent": "support_agent" if key else None,
        "task_id": "t-1" if key else None,
        "session_id": "s-ü" if key else None,
        "caller": "" if key else "dashboard:olga",
    }


ROWS = [
    ("engine 0", "success", "none", 0),
    ("engine 1", "success", "a request", 0),
    ("engine 2", "refused", "none", 1),
    ("engine 3", "refused", "a request", 0),
    ("odd parts", "success", "odd", 0),
    ("odd parts", "dry run", "a request", 1),
    ("int keys", "success", "a request", 0),
    ("big int", "dry run", "none", 0),
    ("engine 0", "success", "big int", 0),
]


def _stored(row: Decision) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The row read back through the ORM, and its JSON columns' text in the database."""
    values = Decision.objects.filter(pk=row.pk).values().get()
    del values["id"], values["public_id"]
    casts = ", ".join(f"CAST({c} AS text)" for c in JSON_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {casts} FROM routing_decision WHERE id = %s", [row.pk])  # noqa: S608
        return values, cursor.fetchone()


@pytest.mark.django_db
@pytest.mark.parametrize("store_full", [False, True])
@pytest.mark.parametrize(("decision", "outcome", "inputs", "prompt"), ROWS)
def test_the_row_is_stored_as_the_orm_stores_the_long_way_s_fields(
    decision: str,
    outcome: str,
    inputs: str,
    prompt: int,
    store_full: bool,
    service_key: Any,
    settings: Any,
) -> None:
    settings.SWITCHBOARD_STORE_FULL_PROMPTS = store_full
    for key in [service_key.api_key, None]:
        arguments = _arguments(
            DECISIONS[decision], OUTCOMES[outcome], INPUTS[inputs], PROMPTS[prompt], key
        )
        row = decision_record(**arguments)
        expected = reference_fields(**arguments) | {"created_at": row.created_at}
        by_orm = Decision.objects.create(**expected | {"public_id": uuid.uuid4()})
        assert _stored(row) == _stored(by_orm)
        # And the row in memory (what the log line and the demo traffic read).
        for name, value in expected.items():
            if name != "public_id":
                assert same(getattr(row, name), value), name


def test_the_quick_way_is_taken_unless_orjson_would_write_something_else() -> None:
    def quick(decision: str, inputs: str) -> bool:
        arguments = _arguments(
            DECISIONS[decision], OUTCOMES["success"], INPUTS[inputs], PROMPTS[0], None
        )
        return bool(decisions._row(**arguments).json)

    assert quick("engine 0", "a request")
    assert quick("odd parts", "odd")
    assert not quick("int keys", "none")
    assert not quick("big int", "none")
    assert not quick("engine 0", "big int")


@pytest.mark.django_db(transaction=True)  # a failed save marks a test's transaction
@pytest.mark.parametrize(
    "where",
    ["trace", "inputs", "verification"],
)
def test_what_json_cannot_hold_fails_as_it_did_and_writes_nothing(where: str) -> None:
    """A datetime, where a caller or the engine should have put its ISO text: the long
    way raised TypeError (json.dumps), and so does the quick one, with no row."""
    decision, inputs, outcome = _base(), {}, Outcome("dry_run")
    if where == "trace":
        decision = dataclasses.replace(
            decision, trace=(*decision.trace, TraceStep("odd", "when", {"at": NOW}))
        )
    elif where == "inputs":
        inputs = {"now": NOW}
    else:
        outcome = Outcome("dry_run", verification={"at": NOW})
    arguments = _arguments(decision, outcome, inputs, "hello", None)
    with pytest.raises(TypeError):
        Decision.objects.create(**reference_fields(**arguments))
    with pytest.raises(TypeError):
        decision_record(**arguments)
    assert not Decision.objects.exists()


@hypothesis_settings(PROPERTY, max_examples=100)
@given(cases())
def test_any_decision_s_fields_and_json_are_the_long_way_s(case: Case) -> None:
    decision = case.decide()
    inputs = decision_inputs(request(case.text, **case.fields), state(**case.runtime), NOW)
    arguments = _arguments(decision, OUTCOMES["success"], inputs, case.text, None)
    fields, texts = decisions._row(**arguments)
    expected = reference_fields(**arguments)
    for name in fields.keys() - {"public_id", "created_at"}:
        assert same(fields[name], expected[name]), name
    assert set(texts) == set(JSON_COLUMNS)  # the quick way
    for name in JSON_COLUMNS:
        assert same(json.loads(texts[name]), json.loads(json.dumps(expected[name]))), name


def test_orjson_sees_the_same_fields_of_the_engine_s_dataclasses_as_to_dict() -> None:
    """orjson writes a dataclass's fields but those named with a leading underscore;
    to_dict's conversion takes every entry of __dataclass_fields__ (ClassVars too)."""
    classes = [
        v
        for v in vars(result).values()
        if isinstance(v, type) and dataclasses.is_dataclass(v) and v.__module__ == result.__name__
    ]
    assert len(classes) >= 7
    for cls in classes:
        names = [f.name for f in dataclasses.fields(cls)]
        assert list(cls.__dataclass_fields__) == names, cls
        assert not any(n.startswith("_") for n in names), cls


# -- the INSERT's parameters -----------------------------------------------------------------

SAMPLES: dict[type, list[Any]] = {
    int: [0, 7, 2**31 - 1, 2**40],
    str: ["", "ü 🎉", "x" * 300],
    bool: [True, False],
    type(None): [None],
    uuid.UUID: [uuid.uuid4()],
}


@pytest.mark.django_db
def test_a_value_passed_as_it_is_is_what_the_field_s_conversion_gives() -> None:
    _, columns = decisions._insert_statement(connection.vendor, True)
    checked = 0
    for column in columns:
        for kind in column.as_is:
            for value in SAMPLES[kind]:
                converted = column.field.get_db_prep_save(value, connection)
                assert converted == value, (column.attname, value, converted)
                assert isinstance(converted, kind), (column.attname, value, converted)
                checked += 1
        if column.aware:
            now = timezone.now()
            assert column.field.get_db_prep_save(now, connection) is now
    assert checked > 50
    # What is never passed as it is: it goes through the field's conversion.
    by_name = {c.attname: c for c in columns}
    assert not by_name["cost_usd"].as_is
    assert not by_name["created_at"].as_is
    assert bool not in by_name["latency_ms"].as_is  # True would go in as 1: converted


@pytest.mark.django_db
def test_the_recorded_row_holds_its_api_key_without_a_query(service_key: Any) -> None:
    arguments = _arguments(_base(), OUTCOMES["success"], {}, "hello", service_key.api_key)
    row = decision_record(**arguments)
    with CaptureQueriesContext(connection) as queries:
        assert row.api_key == service_key.api_key
    assert not queries.captured_queries


# -- spend, only what there is -----------------------------------------------------------------


def _record(public_id: uuid.UUID, charges: tuple[Charge, ...], session: str | None) -> Decision:
    spend = Spend(charges, agent="support_agent", session_id=session, now=NOW)
    return decision_record(
        **_arguments(_base(), OUTCOMES["dry run"], {}, "hello", None),
        public_id=public_id,
        spend=spend,
    )


LOCAL = (Charge("local-m", "ollama", 0.0, 50, 5),)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("charges", "session", "statement"),
    [
        (LOCAL, None, "INSERT"),  # $0 and no session: the row alone
        (LOCAL, "s-local", "WITH"),  # the session's tokens, no ledger row
        ((), "s-none", "WITH"),
        ((Charge("cloud-m", "cloudco", 0.25, 100, 20),), None, "WITH"),  # the ledger alone
    ],
)
def test_only_the_upserts_with_something_to_write_ride_with_the_row(
    charges: tuple[Charge, ...], session: str | None, statement: str
) -> None:
    with CaptureQueriesContext(connection) as queries:
        _record(uuid.uuid4(), charges, session)
    sent = [q["sql"].split()[0] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert sent == [statement]
    paid = [c for c in charges if c.cost_usd > 0]
    assert SpendLedger.objects.count() == (8 if paid else 0)  # 4 scopes x day, month
    if session is None:
        assert not SessionUsage.objects.exists()
    else:
        usage = SessionUsage.objects.get()
        assert (usage.session_id, usage.tokens, usage.cost_usd) == (
            session,
            sum(c.prompt_tokens + c.completion_tokens for c in charges),
            Decimal(str(sum(c.cost_usd for c in charges))),
        )
    assert Decision.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_no_session_usage_is_counted_when_the_row_cannot_be_written() -> None:
    from django.db import IntegrityError

    taken = uuid.uuid4()
    _record(taken, LOCAL, "s-first")
    with pytest.raises(IntegrityError):
        _record(taken, LOCAL, "s-second")
    assert list(SessionUsage.objects.values_list("session_id", flat=True)) == ["s-first"]
    assert Decision.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("listened", [False, True])
def test_the_ledger_adds_exact_costs_in_one_statement_or_in_a_transaction(listened: bool) -> None:
    """One statement (PostgreSQL), or spend_record's own statements in a transaction (a
    save listener, SQLite): the same ledger, to the last decimal place."""
    from django.db.models.signals import post_save

    def listener(**kwargs: Any) -> None:
        pass

    charges = (
        Charge("cloud-m", "cloudco", 0.123456789, 100, 20),
        Charge("cloud-m", "cloudco", 0.1, 1, 2),  # the same buckets: added up first
        Charge("other-m", "other", 1e-7, 3, 4),
        Charge("local-m", "ollama", 0.0, 50, 5),
    )
    if listened:
        post_save.connect(listener, sender=Decision)
    try:
        _record(uuid.uuid4(), charges, "s-exact")
        _record(uuid.uuid4(), charges[:1], None)
    finally:
        post_save.disconnect(listener, sender=Decision)
    ledger = {
        (r.scope, r.key, r.period): (r.cost_usd, r.prompt_tokens, r.completion_tokens, r.requests)
        for r in SpendLedger.objects.all()
    }
    first, other = Decimal("0.123456789"), Decimal("1E-7")
    everything = (2 * first + Decimal("0.1") + other).quantize(Decimal("1E-8"))
    for period in ("day", "month"):
        assert ledger[("global", "", period)] == (everything, 204, 46, 4)
        assert ledger[("agent", "support_agent", period)] == (everything, 204, 46, 4)
        assert ledger[("model", "cloud-m", period)] == (
            (2 * first + Decimal("0.1")).quantize(Decimal("1E-8")),
            201,
            42,
            3,
        )
        assert ledger[("provider", "other", period)] == (other, 3, 4, 1)
    assert len(ledger) == 12  # global, agent, 2 providers, 2 models; no $0 one
    usage = SessionUsage.objects.get()
    assert (usage.tokens, usage.cost_usd) == (185, Decimal("0.22345689"))
