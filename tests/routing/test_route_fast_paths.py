"""The route path's shortcuts give exactly what the long way gives: the quick validation
(routing.api.fast_validation) against DRF, the audit row's one INSERT against the ORM's
save, the decision's dict against the plain recursive conversion, and the API key's
last_used_at written at most once a minute per key and process."""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from routing.api import auth
from routing.api.anthropic_compat import MessagesRequestSerializer
from routing.api.auth import ApiKeyAuthentication
from routing.api.fast_validation import SLOW, fast_check, validated
from routing.api.openai_compat import ChatCompletionSerializer
from routing.api.serializers import ROLES, RouteRequestSerializer, TaskSerializer
from routing.engine import decide
from routing.execution.executor import Attempt, Execution
from routing.models import ApiKey, Decision
from routing.services.decisions import Outcome, _insert, decision_fields, decision_record
from routing.services.route import outcome_of, public_attempt
from tests.engine_data import NOW, request, rule, seed_data, snapshot, state

MESSAGES = [
    {"role": "system", "content": "You are the support assistant of a bookshop."},
    {"role": "user", "content": "My order arrived with a torn cover. Can I get a new one?"},
]

# -- quick validation ------------------------------------------------------------------------


def drf(cls: type[serializers.Serializer], body: Any) -> serializers.Serializer:
    serializer = cls(data=copy.deepcopy(body))
    serializer.is_valid()
    return serializer


def same(quick: Any, slow: Any) -> bool:
    """Equal, with the same key order and the same JSON types (1 is not 1.0 or True)."""
    return quick == slow and json.dumps(quick) == json.dumps(slow)


COMMON_BODIES = [
    (RouteRequestSerializer, True, {"messages": MESSAGES}),
    (
        RouteRequestSerializer,
        True,
        {"agent": "support_agent", "session_id": "s-1", "max_tokens": 256, "messages": MESSAGES},
    ),
    (
        RouteRequestSerializer,
        True,
        {
            "agent": "support_agent",
            "task": {
                "id": "t-9",
                "type": "summarization",
                "complexity": "simple",
                "classification": "routine",
                "privacy_level": "high",
                "requires_reasoning": False,
                "tags": ["billing", "refund"],
            },
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hi"}], "name": "olga"}
            ],
            "response_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
            "temperature": 1,
            "dry_run": True,
            "cache": False,
        },
    ),
    (
        ChatCompletionSerializer,
        False,
        {
            "model": "support_agent",
            "messages": MESSAGES,
            "max_tokens": 256,
            "metadata": {"session_id": "s-1", "task_type": ""},
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.2,
            "top_p": 0.9,  # not declared: DRF drops it, and so does the quick path
        },
    ),
    (
        MessagesRequestSerializer,
        False,
        {
            "model": "auto",
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello"}],
            "stop_sequences": [" END "],
            "metadata": {"user_id": "u-1"},
        },
    ),
    (TaskSerializer, False, {}),
    (TaskSerializer, False, {"type": "code_generation", "complexity": 7, "tags": ["a", "b"]}),
]


@pytest.mark.parametrize(("cls", "reject_unknown", "body"), COMMON_BODIES)
def test_the_common_bodies_take_the_quick_path_and_get_what_drf_gives(
    cls: type[serializers.Serializer], reject_unknown: bool, body: dict[str, Any]
) -> None:
    quick = fast_check(cls, reject_unknown=reject_unknown)(copy.deepcopy(body))
    slow = drf(cls, body)
    assert quick is not SLOW
    assert slow.is_valid(), slow.errors
    assert same(quick, slow.validated_data)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": []},
        {"messages": MESSAGES, "agent": ""},
        {"messages": MESSAGES, "agent": " padded "},
        {"messages": MESSAGES, "agent": "x" * 65},
        {"messages": MESSAGES, "max_tokens": "12"},
        {"messages": MESSAGES, "max_tokens": True},
        {"messages": MESSAGES, "temperature": 3},
        {"messages": MESSAGES, "dry_run": "yes"},
        {"messages": MESSAGES, "surprise": 1},
        {"messages": MESSAGES, "task": {"complexity": True}},
        {"messages": MESSAGES, "task": {"complexity": 11}},
        {"messages": MESSAGES, "task": "routine"},
        {"messages": [{"role": "robot", "content": "hi"}]},
        {"messages": [{"role": "user", "content": None}]},
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        {"messages": MESSAGES, "response_schema": {"type": "nonsense"}},
        [MESSAGES],
    ],
)
def test_anything_unusual_is_left_to_drf_and_gets_its_answer(body: Any) -> None:
    assert fast_check(RouteRequestSerializer, reject_unknown=True)(copy.deepcopy(body)) is SLOW
    slow = drf(RouteRequestSerializer, body)
    if slow.is_valid():  # coerced by DRF ("12" -> 12, " padded " -> "padded")
        assert validated(RouteRequestSerializer, body, reject_unknown=True) == slow.validated_data
        return
    with pytest.raises(ValidationError) as raised:
        validated(RouteRequestSerializer, copy.deepcopy(body), reject_unknown=True)
    assert raised.value.detail == slow.errors


def test_a_field_kind_it_does_not_know_always_goes_through_drf() -> None:
    class WithDate(serializers.Serializer):
        name = serializers.CharField()
        when = serializers.DateTimeField(required=False)

    check = fast_check(WithDate)
    assert check({"name": "a"}) == {"name": "a"}
    assert check({"name": "a", "when": "2026-11-25T10:00:00Z"}) is SLOW


def test_validators_added_by_hand_are_run_too() -> None:
    class Short(serializers.Serializer):
        code = serializers.CharField(validators=[MaxLengthValidator(3)])
        count = serializers.IntegerField(validators=[MinValueValidator(2)])

    check = fast_check(Short)
    assert check({"code": "abc", "count": 2}) == {"code": "abc", "count": 2}
    assert check({"code": "abcd", "count": 2}) is SLOW
    assert check({"code": "abc", "count": 1}) is SLOW


# Bodies for the property tests: each field mostly valid (so that about half the bodies
# are valid and take the quick path), sometimes an awkward value of any JSON type, a
# near miss or a value DRF would coerce.
awkward_texts = st.sampled_from(["", " ", " a", "a ", "x" * 65, "x" * 129, "x" * 201, "a\x00b"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 1_000_002),
    st.floats(-1, 3, allow_nan=False),
    awkward_texts,
    st.text(max_size=4),
    st.sampled_from(["12", "1.5", "true", "simple", "high", "routine", "user", "ünï"]),
)
anything = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(), scalars))


def mostly(valid: st.SearchStrategy[Any], awkward: st.SearchStrategy[Any] = scalars) -> Any:
    return st.integers(0, 9).flatmap(lambda n: awkward if n == 0 else valid)


def words(most: int) -> st.SearchStrategy[str]:
    """Strings a CharField keeps as they are: stripped, not blank, no NUL."""
    characters = st.characters(codec="utf-8", exclude_characters="\x00")
    return st.text(characters, min_size=1, max_size=most).filter(lambda t: t == t.strip())


parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=5)}),
    st.fixed_dictionaries({"type": st.just("image")}, optional={"url": st.text(max_size=5)}),
)
message = st.fixed_dictionaries(
    {
        "role": mostly(st.sampled_from(ROLES)),
        "content": mostly(st.one_of(st.text(max_size=20), st.lists(parts, max_size=2)), anything),
    },
    optional={"name": mostly(words(64)), "tool_call_id": anything},
)
messages = mostly(st.lists(message, min_size=1, max_size=3), anything)
task_fields = {
    "id": mostly(words(200)),
    "type": mostly(words(64)),
    "complexity": mostly(
        st.one_of(st.integers(1, 10), st.sampled_from(["simple", "moderate", "critical"])),
        st.one_of(st.integers(-1, 12), st.sampled_from(["hard", "Simple"]), scalars),
    ),
    "classification": mostly(st.sampled_from(["routine", "creative", "critical"])),
    "privacy_level": mostly(st.sampled_from(["low", "medium", "high"])),
    "requires_reasoning": mostly(st.booleans()),
    "involves_ui_design": mostly(st.booleans()),
    "tags": mostly(st.lists(words(64), max_size=3), st.one_of(st.lists(scalars), scalars)),
}
tasks = mostly(
    st.fixed_dictionaries({}, optional={**task_fields, "other": scalars}),
    anything,
)
common = {
    "max_tokens": mostly(st.integers(1, 1_000_000), st.one_of(st.integers(-1, 1), scalars)),
    "temperature": mostly(st.one_of(st.floats(0, 1), st.integers(0, 1)), scalars),
    "metadata": mostly(
        st.dictionaries(st.text(max_size=8), st.one_of(words(8), st.just(""))), anything
    ),
}
route_bodies = st.fixed_dictionaries(
    {"messages": messages},
    optional={
        "agent": mostly(words(64)),
        "task": tasks,
        "session_id": mostly(words(200)),
        "dry_run": mostly(st.booleans()),
        "cache": mostly(st.booleans()),
        "response_schema": mostly(
            st.sampled_from([{"type": "object"}, {"type": "array", "items": {"type": "string"}}]),
            anything,
        ),
        "max_tokens": common["max_tokens"],
        "temperature": common["temperature"],
        "unknown": scalars,
    },
)
chat_bodies = st.fixed_dictionaries(
    {"model": mostly(words(128)), "messages": messages},
    optional={
        "stream": mostly(st.booleans()),
        "stream_options": mostly(st.just({"include_usage": True}), anything),
        "max_completion_tokens": mostly(st.integers(1, 100)),
        "response_format": mostly(st.just({"type": "json_object"}), anything),
        "user": mostly(words(10)),
        "n": mostly(st.just(1), st.one_of(st.integers(0, 2), scalars)),
        "tools": anything,
        **common,
    },
)
anthropic_bodies = st.fixed_dictionaries(
    {
        "model": mostly(words(128)),
        "max_tokens": common["max_tokens"],
        "messages": mostly(
            st.lists(st.dictionaries(st.text(max_size=8), anything), min_size=1, max_size=2),
            anything,
        ),
    },
    optional={
        "system": anything,
        "stream": mostly(st.booleans()),
        "stop_sequences": mostly(st.lists(st.text(min_size=1, max_size=5), max_size=4)),
        "top_k": mostly(st.integers(0, 3)),
        "tool_choice": mostly(st.just({"type": "auto"}), anything),
        "temperature": common["temperature"],
        "metadata": common["metadata"],
    },
)

SAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_quick_agrees(cls: type[serializers.Serializer], body: Any, reject_unknown: bool) -> None:
    quick = fast_check(cls, reject_unknown=reject_unknown)(copy.deepcopy(body))
    if quick is SLOW:
        return  # DRF answers, by construction
    slow = drf(cls, body)
    assert slow.is_valid(), (body, slow.errors)
    assert same(quick, slow.validated_data), (body, quick, slow.validated_data)


@SAMPLES
@given(route_bodies)
def test_the_quick_path_never_disagrees_with_drf_on_a_route_body(body: dict[str, Any]) -> None:
    assert_quick_agrees(RouteRequestSerializer, body, reject_unknown=True)


@SAMPLES
@given(chat_bodies)
def test_the_quick_path_never_disagrees_with_drf_on_a_chat_body(body: dict[str, Any]) -> None:
    assert_quick_agrees(ChatCompletionSerializer, body, reject_unknown=False)


@SAMPLES
@given(anthropic_bodies)
def test_the_quick_path_never_disagrees_with_drf_on_a_messages_body(body: dict[str, Any]) -> None:
    assert_quick_agrees(MessagesRequestSerializer, body, reject_unknown=False)


@SAMPLES
@given(tasks)
def test_the_quick_path_never_disagrees_with_drf_on_the_task_hints(body: Any) -> None:
    assert_quick_agrees(TaskSerializer, body, reject_unknown=False)


# -- the decision as plain data ----------------------------------------------------------------


def plain_reference(value: Any) -> Any:
    """The straightforward recursive conversion Decision.to_dict() must match."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_reference(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain_reference(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [plain_reference(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    return value


def engine_decisions() -> list[Any]:
    """A few decisions with everything in them: eliminations, rule errors, a refusal, PII."""
    broken = seed_data()
    broken["rules"].insert(
        0,
        rule("global", "task.tags > 3", "deny", 9, name="broken"),
    )
    deny = seed_data()
    deny["rules"].append(rule("global", "'secret' in task.tags", "deny", 9, name="no_secrets"))
    return [
        decide(request("hello there"), snapshot(), state(), now=NOW),
        decide(request("Write to jane@example.com", complexity=8), snapshot(), state(), now=NOW),
        decide(request("hi"), snapshot(broken), state(), now=NOW),
        decide(request("hi", tags=("secret",)), snapshot(deny), state(), now=NOW),
    ]


def test_a_decision_becomes_the_same_plain_data_as_the_recursive_conversion() -> None:
    decisions = engine_decisions()
    assert any(d.refusal is not None for d in decisions)
    assert any(d.errors for d in decisions)
    for decision in decisions:
        expected = {name: getattr(decision, name) for name in decision.__slots__}
        expected["features"] = {
            k: {"value": v.value, "source": v.source} for k, v in decision.features.items()
        }
        expected["reason"] = decision.reason
        expected["estimated_cost_usd"] = decision.estimated_cost_usd
        assert decision.to_dict() == plain_reference(expected)
        json.dumps(decision.to_dict())  # and JSON it is


# -- the audit row ---------------------------------------------------------------------------


def row_values(row: Decision) -> dict[str, Any]:
    values = Decision.objects.filter(pk=row.pk).values().get()
    del values["id"], values["public_id"]
    return values


@pytest.mark.django_db
@pytest.mark.parametrize("store_full", [False, True])
def test_the_audit_row_has_the_same_columns_as_the_orm_would_write(
    store_full: bool, settings: Any, service_key: Any
) -> None:
    settings.SWITCHBOARD_STORE_FULL_PROMPTS = store_full
    outcomes = [
        Outcome(
            "success",
            model_used="local-llama",
            provider="ollama",
            attempts=[{"model": "m", "outcome": "rejected", "reason": "timeout", "latency_ms": 9}],
            prompt_tokens=71,
            completion_tokens=17,
            usage_estimated=True,
            cost_usd=0.0123456789,
            fallback_tax_usd=0.000001,
            latency_ms=41,
            cached=True,
            verification={"model": "cloud", "verdict": "APPROVE"},
        ),
        Outcome("refused", error_code="denied_by_rule"),
    ]
    for decision, outcome in zip(engine_decisions(), outcomes * 2, strict=True):
        fields = decision_fields(
            decision=decision,
            outcome=outcome,
            prompt_text="Call me on +44 20 7946 0958 about the ünïcode order " * 30,
            inputs={"now": NOW.isoformat(), "spend": {"global/day": 1.5}},
            api_key=service_key.api_key,
            agent="support_agent",
            task_id="t-1",
            session_id="s-1",
            caller="",
        )
        by_orm = Decision.objects.create(**{**fields, "public_id": uuid.uuid4()})
        quick = Decision(**fields)
        _insert(quick)
        assert quick.pk is not None
        assert quick.pk != by_orm.pk
        assert not quick._state.adding
        assert row_values(quick) == row_values(by_orm)
        assert Decision.objects.get(pk=quick.pk).public_id == fields["public_id"]


@pytest.mark.django_db
def test_recording_a_decision_takes_one_statement(service_key: Any) -> None:
    decision = engine_decisions()[0]
    with CaptureQueriesContext(connection) as queries:
        row = decision_record(
            decision=decision,
            outcome=Outcome("dry_run"),
            prompt_text="hello there",
            inputs={},
            api_key=None,
            agent=None,
            task_id=None,
            session_id=None,
            caller="dashboard:olga",
        )
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    stored = Decision.objects.get(public_id=row.public_id)
    assert (stored.api_key_name, stored.outcome, stored.cost_usd) == (
        "dashboard:olga",
        "dry_run",
        Decimal("0"),
    )


# -- attempts --------------------------------------------------------------------------------


def test_the_attempts_of_the_row_and_of_the_answer_are_the_attempts_as_they_were() -> None:
    run = Execution(
        attempts=[
            Attempt("a", "p", "rejected", "timeout", 1000),
            Attempt("b", "q", "success", None, 41, 71, 17, True, 0.25, True),
        ]
    )
    run.answer = run.attempts[1]
    assert outcome_of(run).attempts == [dataclasses.asdict(a) for a in run.attempts]
    assert [public_attempt(a) for a in run.attempts] == [
        {"model": "a", "outcome": "rejected", "reason": "timeout", "latency_ms": 1000},
        {"model": "b", "outcome": "success", "reason": None, "latency_ms": 41},
    ]


# -- API key: last_used_at -------------------------------------------------------------------


def updates_of(queries: CaptureQueriesContext) -> int:
    return sum(1 for q in queries.captured_queries if q["sql"].startswith("UPDATE"))


@pytest.mark.django_db
def test_last_used_at_is_written_once_a_minute_per_key_not_per_request(
    service_key: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(auth, "monotonic", lambda: clock[0])
    authenticate = ApiKeyAuthentication()._check
    token = service_key.plaintext
    with CaptureQueriesContext(connection) as queries:
        authenticate(token)
        for _ in range(5):
            authenticate(token)
    assert updates_of(queries) == 1
    assert ApiKey.objects.get(pk=service_key.api_key.pk).last_used_at is not None

    # The column goes stale behind this process's back (another process's clock, a
    # restore): re-read after the key cache expires, it still costs no write per request.
    ApiKey.objects.filter(pk=service_key.api_key.pk).update(
        last_used_at=timezone.now() - timedelta(hours=1)
    )
    clock[0] += auth.KEY_CACHE_SECONDS + 1
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            authenticate(token)
    assert updates_of(queries) == 0

    clock[0] += auth.LAST_USED_RESOLUTION.total_seconds()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            authenticate(token)
    assert updates_of(queries) == 1
    stored = ApiKey.objects.get(pk=service_key.api_key.pk).last_used_at
    assert timezone.now() - stored < timedelta(minutes=1)


# -- spend and the audit row together ---------------------------------------------------------


def _record_with_spend(public_id: uuid.UUID, session: str) -> Decision:
    from routing.services.spend import Charge, Spend

    spend = Spend(
        (
            Charge("cloud-m", "cloudco", 0.25, 100, 20),
            Charge("local-m", "ollama", 0.0, 50, 5),  # $0: tokens count, no ledger row
        ),
        agent="support_agent",
        session_id=session,
        now=NOW,
    )
    return decision_record(
        decision=engine_decisions()[0],
        outcome=Outcome("success", model_used="cloud-m", provider="cloudco", cost_usd=0.25),
        prompt_text="hello",
        inputs={},
        api_key=None,
        agent="support_agent",
        task_id=None,
        session_id=session,
        public_id=public_id,
        caller="test",
        spend=spend,
    )


@pytest.mark.django_db(transaction=True)  # outside a transaction, as a request's finish() runs
def test_spend_and_the_audit_row_commit_together_in_one_round_trip_on_postgresql() -> None:
    from routing.models import SessionUsage, SpendLedger

    with CaptureQueriesContext(connection) as queries:
        row = _record_with_spend(uuid.uuid4(), "s-together")
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert statements == ["WITH"]  # no BEGIN/COMMIT around it: autocommit
    else:
        assert statements == [
            "BEGIN",
            "INSERT",
            "INSERT",
            "INSERT",
            "COMMIT",
        ]  # ledger, session, row
    assert Decision.objects.filter(pk=row.pk).exists()
    ledger = {(r.scope, r.key, r.period): r for r in SpendLedger.objects.all()}
    assert set(ledger) == {
        (scope, key, period)
        for scope, key in [
            ("global", ""),
            ("agent", "support_agent"),
            ("provider", "cloudco"),
            ("model", "cloud-m"),
        ]
        for period in ("day", "month")
    }
    assert all(r.cost_usd == Decimal("0.25") and r.requests == 1 for r in ledger.values())
    session = SessionUsage.objects.get(session_id="s-together")
    assert (session.tokens, session.cost_usd) == (175, Decimal("0.25"))
    _record_with_spend(uuid.uuid4(), "s-together")  # a second request adds to both
    session.refresh_from_db()
    assert session.tokens == 350
    assert SpendLedger.objects.get(scope="global", period="day").cost_usd == Decimal("0.50")


@pytest.mark.django_db(transaction=True)
def test_no_spend_is_counted_when_the_audit_row_cannot_be_written() -> None:
    from django.db import IntegrityError

    from routing.models import SessionUsage, SpendLedger

    taken = uuid.uuid4()
    _record_with_spend(taken, "s-first")
    with pytest.raises(IntegrityError):
        _record_with_spend(taken, "s-second")  # the same public id: the INSERT fails
    assert not SessionUsage.objects.filter(session_id="s-second").exists()
    assert SpendLedger.objects.get(scope="global", period="day").requests == 1
    assert Decision.objects.filter(public_id=taken).count() == 1
