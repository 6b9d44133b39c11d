"""The audit row: exactly one Decision per request, whatever became of it."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from routing.engine import Decision as EngineDecision
from routing.engine.pii import mask_pii
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


def decision_record(*, spend: Spend | None = None, **fields: Any) -> Decision:
    """Write the audit row (`fields` as `decision_fields` takes them) and, when given,
    what the request spent, atomically; then count it (metrics, the log line) once it
    is committed. Spend goes in every scope of the ledger and the session's usage
    (routing.services.spend)."""
    row = Decision(**decision_fields(**fields))
    if spend is None:
        _insert(row)
    elif _one_statement():
        _insert(row, spend)
    else:
        with transaction.atomic():
            spend_record(spend)
            _insert(row)
    decision_observed(row)  # metrics and the log line: every request passes here once
    return row


def _one_statement() -> bool:
    """Spend and row in one statement: PostgreSQL's data-modifying CTEs, unless a save
    signal listener needs the ORM's save."""
    return connection.vendor == "postgresql" and not _has_save_listeners()


def _has_save_listeners() -> bool:
    return pre_save.has_listeners(Decision) or post_save.has_listeners(Decision)


def decision_fields(
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
) -> dict[str, Any]:
    """The audit row's fields, by name, for one request."""
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
        # Mask well past the cut, so a value straddling it is never half kept.
        "prompt_excerpt": mask_pii(prompt_text[: EXCERPT_CHARS * 8])[:EXCERPT_CHARS],
        "prompt_full": prompt_text if settings.SWITCHBOARD_STORE_FULL_PROMPTS else None,
    }


@functools.cache
def _insert_statement(vendor: str, returning: bool) -> tuple[str, tuple[Field, ...]]:
    """INSERT of every concrete column but the id: built once per database kind."""
    fields = tuple(f for f in Decision._meta.concrete_fields if not f.primary_key)
    quote = connection.ops.quote_name
    # Only the model's own table and column names are formatted in, never a value.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(Decision._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    if returning:
        sql += f" RETURNING {quote(Decision._meta.pk.column)}"
    return sql, fields


def _insert(row: Decision, spend: Spend | None = None) -> None:
    """Write the row with one constant INSERT: what `row.save()` sends, without the
    ORM's per-call query compilation (about a fifth of the route path's own CPU).
    Each value goes through its field's own conversion, as the ORM does; a test
    compares rows written both ways. Should anything ever listen to Decision's save
    signals, the ORM writes the row, so they fire. With `spend` (PostgreSQL, see
    `_one_statement`), the spend upserts ride in front of the INSERT as CTEs: one round
    trip, where BEGIN, the upserts, the INSERT and COMMIT took four or five."""
    if _has_save_listeners():
        row.save(force_insert=True)
        return
    returning = connection.features.can_return_columns_from_insert
    sql, fields = _insert_statement(connection.vendor, returning)
    params = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
    if spend is not None:
        ctes, spend_params = spend_ctes_postgresql(spend)
        sql, params = ctes + sql, [*spend_params, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            row.pk = cursor.fetchone()[0]
        else:
            row.pk = connection.ops.last_insert_id(
                cursor, Decision._meta.db_table, Decision._meta.pk.column
            )
    row._state.adding = False
    row._state.db = connection.alias
