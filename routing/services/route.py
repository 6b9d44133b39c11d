"""One routed request, end to end: decide, execute, account, record, notify.

The views parse and authenticate; `prepare` decides (a refusal or a dry run leaves its
audit row and ends there), `finish` accounts and records what execution did. `route`
is the whole of POST /api/route; the OpenAI- and Anthropic-compatible endpoints use the
same two halves, streaming or not.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from controlplane.logging import bind_decision
from routing import metrics
from routing.api import errors
from routing.engine import Decision, RouteRequest, Snapshot, decide
from routing.engine.features import messages_text
from routing.engine.replay import decision_inputs
from routing.execution.executor import Attempt, Execution, execute
from routing.execution.streaming import stream_chain
from routing.models import ApiKey
from routing.models import Decision as DecisionRow
from routing.services.decisions import Outcome, decision_record
from routing.services.spend import Charge, Spend
from routing.snapshot import current_snapshot, load_runtime_state

REFUSAL_CODES = {
    "unknown_agent": errors.UNKNOWN_AGENT,
    "no_eligible_model": errors.NO_ELIGIBLE_MODEL,
    "budget_exceeded": errors.BUDGET_EXCEEDED,
    "denied_by_rule": errors.DENIED_BY_RULE,
}


@dataclass
class Prepared:
    """A decided request, ready to execute."""

    decision: Decision
    snapshot: Snapshot
    messages: list[Mapping[str, Any]]
    body: Mapping[str, Any]
    now: datetime
    record: dict[str, Any]
    # Chosen up front so a stream can name its audit row in headers before it is written.
    decision_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def agent(self) -> str | None:
        return self.record["agent"]


def _engine_request(body: Mapping[str, Any], agent: str | None, text: str) -> RouteRequest:
    task = body.get("task") or {}
    asked = messages_text([m for m in body["messages"] if m["role"] == "user"])
    return RouteRequest(
        text=text,
        task_text=asked or text,
        agent=agent,
        task_id=task.get("id"),
        task_type=task.get("type"),
        complexity=task.get("complexity"),
        classification=task.get("classification"),
        privacy_level=task.get("privacy_level"),
        requires_reasoning=task.get("requires_reasoning"),
        involves_ui_design=task.get("involves_ui_design"),
        tags=tuple(task.get("tags", ())),
        session_id=body.get("session_id"),
        max_tokens=body.get("max_tokens"),
        has_response_schema="response_schema" in body,
        model=body.get("model"),
    )


def decision_summary(decision: Decision) -> dict[str, Any]:
    return {
        "strategy": decision.strategy,
        "strategy_source": decision.strategy_source,
        "complexity": decision.features["complexity_level"].value,
        "task_type": decision.features["task_type"].value,
        "reason": decision.reason,
        "rule": decision.rule,
        "privacy": {"pii_types": list(decision.pii_types), "local_only": decision.flags.local_only},
        "chain": [c.model for c in decision.chain],
        "warning_level": decision.warning_level,
        "estimated_cost_usd": decision.estimated_cost_usd,
        "config_version": decision.config_version,
    }


def prepare(body: Mapping[str, Any], *, api_key: ApiKey | None, caller: str = "") -> Prepared:
    """Decide. A refusal is recorded and raised as ApiError (with its decision id).
    `caller` names, in the audit row, who asked without an API key (the dashboard)."""
    agent = body.get("agent") or (
        api_key.default_agent.key if api_key and api_key.default_agent else None
    )
    # Known before deciding, so every log line of this request names its audit row.
    decision_id = uuid.uuid4()
    bind_decision(decision_id)
    messages = list(body["messages"])
    text = messages_text(messages)
    request = _engine_request(body, agent, text)
    now = timezone.now()
    snapshot = current_snapshot()
    state = load_runtime_state(snapshot=snapshot, session_id=request.session_id, now=now)
    decision = decide(request, snapshot, state, now=now)
    record = {
        "prompt_text": text,
        "inputs": decision_inputs(request, state, now),
        "api_key": api_key,
        "agent": agent,
        "task_id": request.task_id,
        "session_id": request.session_id,
        "caller": caller,
    }
    if decision.refusal is not None:
        outcome = Outcome("refused", error_code=decision.refusal.code)
        row = decision_record(decision=decision, outcome=outcome, public_id=decision_id, **record)
        raise errors.ApiError(
            REFUSAL_CODES[decision.refusal.code],
            decision.refusal.message,
            dict(decision.refusal.details),
            decision_id=str(row.public_id),
        )
    return Prepared(decision, snapshot, messages, body, now, record, decision_id)


def record_dry_run(prepared: Prepared) -> DecisionRow:
    return decision_record(
        decision=prepared.decision,
        outcome=Outcome("dry_run"),
        public_id=prepared.decision_id,
        **prepared.record,
    )


def finish(prepared: Prepared, run: Execution) -> DecisionRow:
    """Account for every billed attempt and write the one audit row, atomically; then
    publish the metrics event (which never fails the request)."""
    outcome = outcome_of(run)
    spend = Spend(
        tuple(
            Charge(a.model, a.provider, a.cost_usd, a.prompt_tokens, a.completion_tokens)
            for a in run.billed
        ),
        agent=prepared.agent,
        session_id=prepared.record["session_id"],
        now=prepared.now,
    )
    row = decision_record(
        decision=prepared.decision,
        outcome=outcome,
        public_id=prepared.decision_id,
        spend=spend,
        **prepared.record,
    )
    metrics.publish(
        model_used=outcome.model_used,
        latency_ms=outcome.latency_ms,
        attempts=outcome.attempts,
        now=prepared.now,
    )
    return row


def all_failed(prepared: Prepared, run: Execution, row: DecisionRow) -> errors.ApiError:
    return errors.ApiError(
        errors.ALL_MODELS_FAILED,
        errors.MSG_ALL_FAILED,
        {
            "attempts": [public_attempt(a) for a in run.attempts],
            "chain": [c.model for c in prepared.decision.chain],
        },
        decision_id=str(row.public_id),
    )


def execute_prepared(prepared: Prepared) -> Execution:
    """Call the chain with the request's own parameters (not streamed)."""
    body = prepared.body
    return execute(
        prepared.decision,
        prepared.snapshot,
        prepared.messages,
        schema=body.get("response_schema"),
        max_tokens=body.get("max_tokens"),
        temperature=body.get("temperature"),
        use_cache=body.get("cache", True),
    )


def start_stream(prepared: Prepared) -> tuple[Execution, str, Iterator[str]]:
    """Run the chain up to the first content before answering: if every model fails
    first, the client gets a plain 502 with the attempt log, not a broken stream.
    Returns the execution record, the first piece, and the rest of the stream."""
    run = Execution()
    pieces = stream_chain(
        prepared.decision,
        prepared.snapshot,
        prepared.messages,
        run,
        max_tokens=prepared.body.get("max_tokens"),
        temperature=prepared.body.get("temperature"),
    )
    first = next(pieces, None)
    if first is None:
        row = finish(prepared, run)
        raise all_failed(prepared, run, row)
    return run, first, pieces


def route(body: Mapping[str, Any], *, api_key: ApiKey | None) -> dict[str, Any]:
    prepared = prepare(body, api_key=api_key)
    decision = prepared.decision
    if body.get("dry_run"):
        row = record_dry_run(prepared)
        return {
            "decision_id": str(row.public_id),
            "dry_run": True,
            "decision": decision_summary(decision),
        }
    run = execute_prepared(prepared)
    row = finish(prepared, run)
    if run.answer is None:
        raise all_failed(prepared, run, row)
    return {
        "decision_id": str(row.public_id),
        "model_used": run.answer.model,
        "provider": run.answer.provider,
        "simulated": prepared.snapshot.models[run.answer.model].provider_kind == "simulated",
        "content": run.content,
        "raw_text": run.text,
        "attempts": [public_attempt(a) for a in run.attempts],
        "decision": decision_summary(decision),
        "verification": run.verification,
        "usage": usage_of(run),
        "cost_usd": run.cost_usd,
        "fallback_tax_usd": run.fallback_tax_usd,
        "latency_ms": run.latency_ms,
        "cached": run.cached,
    }


def usage_of(run: Execution) -> dict[str, Any]:
    assert run.answer is not None
    answer = run.answer
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "estimated": answer.usage_estimated,
    }


def public_attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "model": attempt.model,
        "outcome": attempt.outcome,
        "reason": attempt.reason,
        "latency_ms": attempt.latency_ms,
    }


# Attempt holds scalars only, so a shallow dict equals `asdict` (which deep-copies every
# value: about four times slower, on every request).
_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(Attempt))


def outcome_of(run: Execution) -> Outcome:
    attempts: Sequence[dict[str, Any]] = [
        {name: getattr(a, name) for name in _ATTEMPT_FIELDS} for a in run.attempts
    ]
    if run.answer is None:
        return Outcome(
            "failed",
            error_code=errors.ALL_MODELS_FAILED,
            attempts=list(attempts),
            fallback_tax_usd=run.fallback_tax_usd,
            latency_ms=run.latency_ms,
        )
    return Outcome(
        "success",
        model_used=run.answer.model,
        provider=run.answer.provider,
        attempts=list(attempts),
        prompt_tokens=run.answer.prompt_tokens,
        completion_tokens=run.answer.completion_tokens,
        usage_estimated=run.answer.usage_estimated,
        cost_usd=run.cost_usd,
        fallback_tax_usd=run.fallback_tax_usd,
        latency_ms=run.latency_ms,
        cached=run.cached,
        verification=run.verification,
    )
