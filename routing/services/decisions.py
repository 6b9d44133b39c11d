"""The audit row: exactly one Decision per request, whatever became of it."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorWrapper
from django.db.models import Field
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from routing.engine import Decision as EngineDecision
from routing.engine.pii import mask_pii
from routing.engine.result import _plain
from routing.models import ApiKey, Decision
from routing.observability import decision_observed
from routing.services.spend import Spend, spend_ctes_postgresql, spend_record

EXCERPT_CHARS = 500


@dataclass
class Outcome:
    """What happened after the decision (nothing, for refusals and dry runs)."""

    outcome: str  # success | failed | refused | dry_run
    error_code: str = ""
    model_used: str = ""
    provider: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: float = 0.0
    fallback_tax_usd: float = 0.0
    latency_ms: int = 0
    cached: bool = False
    verification: dict[str, Any] | None = None


def decision_fields(**request: Any) -> dict[str, Any]:
    """The audit row's fields, by name, for one request (what `_row` takes)."""
    return _row(**request).fields


def decision_record(*, spend: Spend | None = None, **fields: Any) -> Decision:
    """Write the audit row (`fields` as `decision_fields` takes them) and, when given,
    what the request spent, atomically; then count it (metrics, the log line) once it
    is committed. Spend goes in every scope of the ledger and the session's usage
    (routing.services.spend)."""
    values, json = _row(**fields)
    row = Decision(**values)
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a thread-local look-up
    if spend is None:
        _insert(row, json=json, db=db)
    elif _one_statement(db):
        _insert(row, spend, json=json, db=db)
    else:
        with transaction.atomic():
            spend_record(spend)
            _insert(row, json=json, db=db)
    decision_observed(row)  # metrics and the log line: every request passes here once
    return row


def _one_statement(db: BaseDatabaseWrapper) -> bool:
    """Spend and row in one statement: PostgreSQL's data-modifying CTEs, unless a save
    signal listener needs the ORM's save."""
    return db.vendor == "postgresql" and not _has_save_listeners()


def _has_save_listeners() -> bool:
    return pre_save.has_listeners(Decision) or post_save.has_listeners(Decision)


class _Row(NamedTuple):
    fields: dict[str, Any]
    # The JSON columns as text, by name: orjson's, straight from the engine's dataclasses.
    # Empty when orjson cannot write them as the fields' own conversion would.
    json: dict[str, str]


def _row(
    *,
    decision: EngineDecision,
    outcome: Outcome,
    prompt_text: str,
    inputs: Mapping[str, Any],
    api_key: ApiKey | None,
    agent: str | None,
    task_id: str | None,
    session_id: str | None,
    public_id: uuid.UUID | None = None,
    caller: str = "",
) -> _Row:
    pii_types = list(decision.pii_types)
    chain = [c.model for c in decision.chain]
    inputs = dict(inputs)
    try:
        decided = _dumps(
            {
                "steps": decision.trace,
                "eliminated": decision.eliminated,
                "errors": decision.errors,
                "flags": decision.flags,
                "refusal": decision.refusal,
            },
            _PLAIN,
        )
        given = _dumps(
            {
                "strategy_source": decision.strategy_source,
                "verification": outcome.verification,
                "inputs": inputs,
            },
            _AS_GIVEN,
        )
        # As to_dict() has them (orjson writes these small dataclasses slowly).
        features_json = _dumps(
            {k: {"value": v.value, "source": v.source} for k, v in decision.features.items()},
            _PLAIN,
        )
        json = {
            "pii_types": _dumps(pii_types, _AS_GIVEN).decode(),
            "chain": _dumps(chain, _AS_GIVEN).decode(),
            "attempts": _dumps(outcome.attempts, _AS_GIVEN).decode(),
            # Two JSON objects, one after the other: {a, b} + {c} -> {a, b, c}.
            "trace": (decided[:-1] + b"," + given[1:]).decode(),
            "features": features_json.decode(),
        }
        steps: dict[str, Any] = orjson.loads(decided)
        features: dict[str, Any] = orjson.loads(features_json)
    except TypeError:  # what orjson does not write as the fields would (JSONEncodeError too)
        data = decision.to_dict()
        steps = {k: data[v] for k, v in _TRACE_PARTS.items()}
        features, json = data["features"], {}
    if outcome.attempts is None:
        json.pop("attempts", None)  # SQL NULL, as the field would have it (and refuse it)
    return _Row(
        {
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
            "pii_types": pii_types,
            "local_only": decision.flags.local_only,
            "rule": (decision.rule or "")[:200],
            "warning_level": decision.warning_level,
            "chain": chain,
            "attempts": outcome.attempts,
            "trace": {
                **steps,
                "strategy_source": decision.strategy_source,
                "verification": outcome.verification,
                "inputs": inputs,
            },
            "features": features,
            "config_version": decision.config_version,
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
            "usage_estimated": outcome.usage_estimated,
            "cost_usd": outcome.cost_usd,
            "fallback_tax_usd": outcome.fallback_tax_usd,
            "latency_ms": outcome.latency_ms,
            "cached": outcome.cached,
            # Mask well past the cut, so a value straddling it is never half kept.
            "prompt_excerpt": mask_pii(prompt_text[: EXCERPT_CHARS * 8])[:EXCERPT_CHARS],
            "prompt_full": prompt_text if settings.SWITCHBOARD_STORE_FULL_PROMPTS else None,
        },
        json,
    )


# The trace's parts from the decision: the trace's key, the key in Decision.to_dict().
_TRACE_PARTS = {
    "steps": "trace",
    "eliminated": "eliminated",
    "errors": "errors",
    "flags": "flags",
    "refusal": "refusal",
}


# -- the JSON columns -----------------------------------------------------------------------
#
# orjson writes the engine's dataclasses, dicts, lists, tuples, str, int, float, bool and
# None as Decision.to_dict() and json.dumps do (fields in order, tuples as lists), without
# building the plain copy first. Whatever it would write otherwise raises TypeError, and
# the row takes the long way (to_dict, the fields' own conversion), so nothing stored
# changes: dicts with keys other than str, ints past 64 bits, lone surrogates, datetimes.
# orjson leaves out a dataclass's ClassVars and fields named with a leading underscore,
# which to_dict keeps: the engine's have none (a test checks). Floats that are not finite are the one value
# written differently (null; json.dumps writes NaN, which PostgreSQL refuses): decisions
# never hold them (tests/routing/test_engine_properties.py checks they are strict JSON).


def _decision_part(value: Any) -> Any:
    """What to_dict makes of the engine's other containers (read-only mappings, sets)."""
    if isinstance(value, Mapping | tuple | set | frozenset):
        return _plain(value)
    raise TypeError(type(value).__name__)


def _not_json(value: Any) -> Any:
    """The caller's values are written as given, as json.dumps would: no conversions."""
    raise TypeError(type(value).__name__)


# Decision.to_dict()'s values: dataclasses too.
_PLAIN = (_decision_part, orjson.OPT_PASSTHROUGH_DATETIME)
# Values given as plain data (inputs, attempts, verification): json.dumps refuses
# dataclasses and datetimes, so these go to _not_json.
_AS_GIVEN = (
    _not_json,
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS,
)


def _dumps(value: Any, how: tuple[Any, int]) -> bytes:
    return orjson.dumps(value, default=how[0], option=how[1])


# -- the INSERT ------------------------------------------------------------------------------


class _Column(NamedTuple):
    attname: str
    field: Field
    # Value types the field's conversion gives back unchanged (or as an equal int
    # subclass): passed as they are. A test checks each against the conversion.
    as_is: frozenset[type]
    # PostgreSQL: a JSON column, the text the row brings cast to jsonb.
    json: bool
    # PostgreSQL: a datetime column, which takes an aware datetime as it is.
    aware: bool


_NONE = type(None)


def _as_is(field: Field, vendor: str) -> frozenset[type]:
    if isinstance(field, models.ForeignKey):
        return _as_is(field.target_field, vendor)
    if isinstance(field, models.IntegerField):
        return frozenset({int, _NONE})
    if isinstance(field, models.CharField | models.TextField):
        return frozenset({str, _NONE})
    if isinstance(field, models.BooleanField):
        return frozenset({bool})
    if isinstance(field, models.UUIDField) and vendor == "postgresql":
        return frozenset({uuid.UUID, _NONE})
    return frozenset()


def _column(field: Field, vendor: str) -> _Column:
    postgresql = vendor == "postgresql"
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return _Column(field.attname, field, frozenset(), json=False, aware=False)  # pre_save
    return _Column(
        field.attname,
        field,
        _as_is(field, vendor),
        json=postgresql and isinstance(field, models.JSONField),
        aware=postgresql and type(field) is models.DateTimeField,
    )


@functools.cache
def _insert_statement(vendor: str, returning: bool) -> tuple[str, tuple[_Column, ...]]:
    """INSERT of every concrete column but the id: built once per database kind."""
    fields = tuple(f for f in Decision._meta.concrete_fields if not f.primary_key)
    columns = tuple(_column(f, vendor) for f in fields)
    quote = connection.ops.quote_name
    # Only the model's own table and column names are formatted in, never a value.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(Decision._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join("%s::jsonb" if c.json else "%s" for c in columns),
    )
    if returning:
        sql += f" RETURNING {quote(Decision._meta.pk.column)}"
    return sql, columns


def _params(
    row: Decision, columns: tuple[_Column, ...], json: Mapping[str, str], db: BaseDatabaseWrapper
) -> list[Any]:
    """Each value as its field's conversion makes it: a value the conversion gives back
    unchanged as it is, a JSON column as the text the row brings (PostgreSQL), anything
    else through the conversion."""
    values = row.__dict__
    params = []
    for attname, f, as_is, is_json, aware in columns:
        value = values[attname]
        if type(value) in as_is or (
            aware and type(value) is datetime and value.utcoffset() is not None
        ):
            params.append(value)
        elif is_json and attname in json:
            params.append(json[attname])
        else:
            params.append(f.get_db_prep_save(f.pre_save(row, True), db))
    return params


def _insert(
    row: Decision,
    spend: Spend | None = None,
    *,
    json: Mapping[str, str] | None = None,
    db: BaseDatabaseWrapper | None = None,
) -> None:
    """Write the row with one constant INSERT: what `row.save()` sends, without the
    ORM's per-call query compilation (about a fifth of the route path's own CPU).
    Each value is what its field's own conversion makes of it (see `_params`); a test
    compares rows written both ways. Should anything ever listen to Decision's save
    signals, the ORM writes the row, so they fire. With `spend` (PostgreSQL, see
    `_one_statement`), the spend upserts ride in front of the INSERT as CTEs: one round
    trip, where BEGIN, the upserts, the INSERT and COMMIT took four or five."""
    if _has_save_listeners():
        row.save(force_insert=True)
        return
    if db is None:
        db = connections[DEFAULT_DB_ALIAS]
    returning = db.features.can_return_columns_from_insert
    sql, columns = _insert_statement(db.vendor, returning)
    params = _params(row, columns, json or {}, db)
    if spend is not None:
        ctes, spend_params = spend_ctes_postgresql(spend)
        sql, params = ctes + sql, [*spend_params, *params]
    with _cursor(db) as cursor:
        cursor.execute(sql, params)
        if returning:
            row.pk = cursor.fetchone()[0]
        else:
            row.pk = db.ops.last_insert_id(
                cursor, Decision._meta.db_table, Decision._meta.pk.column
            )
    row._state.adding = False
    row._state.db = db.alias


def _cursor(db: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor as `db.cursor()` gives it (Django's query log, execute wrappers and
    errors), but on PostgreSQL one that sends the parameters apart from the statement:
    the row's kilobytes of JSON are neither quoted into the SQL by psycopg nor parsed
    out of it by PostgreSQL. Prepared or not as the connection says (Django turns
    psycopg's automatic preparing off, for connection poolers)."""
    if db.vendor != "postgresql":
        return db.cursor()
    # What db.cursor() does, with another cursor class.
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        cursor = ServerBindingCursor(db.connection)
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)
