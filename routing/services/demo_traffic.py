"""Generated traffic for benchmarks and demos: N decisions over the last days, decided by
the real engine on the current configuration and answered by the simulated provider.

How, and what is reused (so 1,000,000 rows take minutes, not hours):

1. `shapes` distinct requests are made from a seeded RNG: agents of the configuration
   (and now and then none, or one that does not exist), task types, complexity, privacy
   levels, prompts with personal data in about one in twelve, JSON schemas (some with
   a max_tokens too small for the answer), sessions, task ids and dry runs. Each shape
   is decided under one of the configured strategies (as an override would put it in
   force), so the strategies chart has more than the default.
2. Each shape is decided once by `routing.engine.decide` on `current_snapshot()` and the
   runtime state now, and executed once by `routing.execution.executor.execute` with
   every model switched to the simulated provider (no network; a failure rate for all),
   inside a private in-memory cache, so the deployment's breaker, cooldowns and response
   cache are not touched. Shapes whose strategy caches answers run a second time, and
   that run is the response-cache hit.
3. Its audit row is written by `routing.services.decisions.decision_record`, the one
   production writer, inside a transaction that is rolled back: the row's values are
   the template. Every generated row copies a template with its own id, a time in the
   window (busier by day than by night) and latencies drawn for its attempts from the
   model's speed, since the simulated provider answers at once. Rows go in by COPY on
   PostgreSQL and bulk_create elsewhere, in time order, as a real table fills.

Spend ledgers, budgets, sessions and metrics are not touched: generated traffic costs
nothing real. Its rows say `api_key_name = "generate_decisions"`.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from routing.engine import RouteRequest, Snapshot, decide
from routing.engine.features import messages_text
from routing.engine.replay import decision_inputs
from routing.execution.executor import execute
from routing.models import Decision
from routing.rejection_reasons import CIRCUIT_OPEN, OTHER, reason_bucket
from routing.services.decisions import Outcome, decision_record
from routing.services.route import outcome_of
from routing.snapshot import current_snapshot, load_runtime_state

CALLER = "generate_decisions"
FAILURE_RATE = 0.04  # of every simulated call, unless a model's options say otherwise
CACHED_SHARE = 0.3  # of a caching strategy's repeats answered from the response cache
STRATEGY_WEIGHTS = {
    "balanced": 6,
    "cost_optimized": 2,
    "performance_optimized": 1,
    "privacy_first": 1,
}
TASK_TYPES = (
    "code_generation",
    "code_review",
    "debug",
    "summarization",
    "chat",
    "classification",
    "reasoning",
    "analysis",
    "documentation",
    "test_generation",
    "translation",
    "extraction",
    "planning",
)
_TOPICS = (
    "Write a Python function that parses ISO 8601 dates and handles time zones.",
    "Review this pull request for race conditions in the cache invalidation code.",
    "Summarize the meeting notes below in five bullet points for the team.",
    "Why does this SQL query do a sequential scan instead of using the index?",
    "Classify these support tickets into billing, bugs and feature requests.",
    "Plan the migration of our monolith's payment module to a separate service.",
    "Translate the release notes into German, keeping the product names.",
    "Extract every invoice number and amount from the text that follows.",
    "Explain the trade-offs between optimistic and pessimistic locking.",
    "Write unit tests for the rate limiter, including the burst case.",
    "Design a schema for storing audit events with retention by tenant.",
    "Debug this stack trace: KeyError 'user_id' in the session middleware.",
)
_DETAILS = (
    "Keep it short.",
    "The service runs on Django 5 and PostgreSQL 15.",
    "Assume about ten thousand requests a minute at peak.",
    "This is for the quarterly architecture review, so be thorough and precise.",
    "```python\ndef handler(event):\n    return process(event['body'])\n```",
    "Production deploy is tomorrow; the payment flow must not break.",
)
_PII = (
    "Contact jane.doe@example.com if anything is unclear.",
    "Call the customer back on +44 20 7946 0958.",
    "The card on file is 4111 1111 1111 1111.",
    "Refund to IBAN DE89 3704 0044 0532 0130 00.",
)


@dataclass(frozen=True)
class Template:
    """One shape's audit row, as decision_record wrote it, and what varies per copy."""

    fields: dict[str, Any]
    attempts: list[dict[str, Any]]
    weight: float


@dataclass
class Generated:
    rows: int = 0
    shapes: int = 0
    templates: int = 0
    first: datetime | None = None
    last: datetime | None = None
    outcomes: dict[str, int] = field(default_factory=dict)


# -- shapes ---------------------------------------------------------------------------------


def _body(rng: random.Random, agents: Sequence[str]) -> dict[str, Any]:
    roll = rng.random()
    agent = None if roll < 0.1 else "retired_agent" if roll < 0.11 else rng.choice(agents)
    text = " ".join([rng.choice(_TOPICS), *rng.sample(_DETAILS, rng.randrange(0, 3))])
    if rng.random() < 0.08:
        text += " " + rng.choice(_PII)
    messages = [{"role": "user", "content": text}]
    if rng.random() < 0.3:
        messages.insert(0, {"role": "system", "content": "You are a careful assistant."})
    task: dict[str, Any] = {}
    if rng.random() < 0.7:
        task["type"] = rng.choice(TASK_TYPES)
    if rng.random() < 0.5:
        task["complexity"] = rng.randrange(1, 11)
    privacy = rng.random()
    if privacy < 0.4:
        task["privacy_level"] = "low" if privacy < 0.15 else "medium" if privacy < 0.3 else "high"
    if rng.random() < 0.1:
        task["id"] = f"task-{rng.randrange(50)}"
    body: dict[str, Any] = {"agent": agent, "task": task, "messages": messages}
    if rng.random() < 0.06:
        body["response_schema"] = {"type": "object"}
        if rng.random() < 0.3:
            body["max_tokens"] = 8  # too few for the answer: cut off, then the next model
    if rng.random() < 0.2:
        body["session_id"] = f"session-{rng.randrange(200)}"
    body["dry_run"] = rng.random() < 0.02
    body["strategy"] = rng.choices(list(STRATEGY_WEIGHTS), list(STRATEGY_WEIGHTS.values()))[0]
    return body


def _request(body: Mapping[str, Any], text: str) -> RouteRequest:
    task = body["task"]
    return RouteRequest(
        text=text,
        task_text=messages_text([m for m in body["messages"] if m["role"] == "user"]),
        agent=body["agent"],
        task_id=task.get("id"),
        task_type=task.get("type"),
        complexity=task.get("complexity"),
        privacy_level=task.get("privacy_level"),
        session_id=body.get("session_id"),
        max_tokens=body.get("max_tokens"),
        has_response_schema="response_schema" in body,
    )


def simulated(snapshot: Snapshot, failure_rate: float) -> Snapshot:
    """The snapshot with every model on the simulated provider, answering at once and
    failing `failure_rate` of its prompts (a model's own failure_rate option wins)."""
    models = {}
    for key, model in snapshot.models.items():
        options = {"failure_rate": failure_rate, **model.options, "latency_ms": 0}
        models[key] = replace(model, provider_kind="simulated", options=MappingProxyType(options))
    return replace(snapshot, models=MappingProxyType(models))


@contextmanager
def _private_cache() -> Iterator[None]:
    """Breaker counts, cooldowns and cached answers of simulated calls stay here: never
    in the deployment's cache, where real requests would see them."""
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": CALLER}
    }
    requests_log = logging.getLogger("routing.requests")
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)  # one "request routed" line per template
    try:
        with override_settings(CACHES=caches):
            yield
    finally:
        requests_log.setLevel(level)


def _template(
    body: Mapping[str, Any],
    outcome: Outcome,
    *,
    decision: Any,
    request: RouteRequest,
    state: Any,
    now: datetime,
    text: str,
) -> dict[str, Any]:
    """The audit row decision_record writes for this request, then rolled back."""
    with transaction.atomic():
        row = decision_record(
            decision=decision,
            outcome=outcome,
            prompt_text=text,
            inputs=decision_inputs(request, state, now),
            api_key=None,
            agent=body["agent"],
            task_id=request.task_id,
            session_id=request.session_id,
            caller=CALLER,
        )
        fields = {
            f.attname: getattr(row, f.attname)
            for f in Decision._meta.concrete_fields
            if not f.primary_key
        }
        transaction.set_rollback(True)
    return fields


def build_templates(
    shapes: int, *, seed: int, failure_rate: float, progress: Callable[[str], None]
) -> list[Template]:
    """Decide and execute `shapes` requests; one template per outcome they had."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, seeded on purpose)
    base = current_snapshot()
    strategies = [s for s in STRATEGY_WEIGHTS if s in base.strategies] or [base.default_strategy]
    per_strategy = {s: replace(base, default_strategy=s) for s in strategies}
    executable = {s: simulated(snap, failure_rate) for s, snap in per_strategy.items()}
    agents = sorted(base.agents) or ["backend_agent"]
    now = timezone.now()
    templates: list[Template] = []
    with _private_cache():
        for n in range(shapes):
            body = _body(rng, agents)
            strategy = body["strategy"] if body["strategy"] in per_strategy else strategies[0]
            text = messages_text(body["messages"])
            request = _request(body, text)
            state = load_runtime_state(
                snapshot=per_strategy[strategy], session_id=request.session_id, now=now
            )
            decision = decide(request, per_strategy[strategy], state, now=now)
            weight = 1 / (n + 1) ** 0.6  # a few requests are common, most are rare
            common = {"decision": decision, "request": request, "state": state, "now": now}
            if decision.refusal is not None:
                outcome = Outcome("refused", error_code=decision.refusal.code)
                runs: list[tuple[Outcome, float]] = [(outcome, weight)]
            elif body["dry_run"]:
                runs = [(Outcome("dry_run"), weight)]
            else:
                call = {"schema": body.get("response_schema"), "max_tokens": body.get("max_tokens")}
                first = execute(decision, executable[strategy], body["messages"], **call)
                runs = [(outcome_of(first), weight)]
                if decision.flags.cache_allowed and first.answer is not None:
                    again = execute(decision, executable[strategy], body["messages"], **call)
                    if again.cached:
                        runs = [
                            (outcome_of(first), weight * (1 - CACHED_SHARE)),
                            (outcome_of(again), weight * CACHED_SHARE),
                        ]
            for outcome, share in runs:
                fields = _template(body, outcome, text=text, **common)
                templates.append(Template(fields, list(fields["attempts"]), share))
            if (n + 1) % 500 == 0:
                progress(f"  decided and executed {n + 1:,} of {shapes:,} request shapes")
    return templates


# -- rows -----------------------------------------------------------------------------------

# Latency of an answer: about this much plus TYPICAL_TOKENS at the model's tokens/s,
# spread log-normally. The simulated provider answers at once, so it is drawn here.
BASE_MS = 200.0
TYPICAL_TOKENS = 150
DEFAULT_TOKENS_PER_SECOND = 60.0


def _typical_ms(snapshot: Snapshot) -> dict[str, float]:
    return {
        key: BASE_MS
        + TYPICAL_TOKENS / (model.tokens_per_second or DEFAULT_TOKENS_PER_SECOND) * 1000
        for key, model in snapshot.models.items()
    }


def _attempt_ms(
    rng: random.Random, attempt: Mapping[str, Any], typical: Mapping[str, float]
) -> int:
    outcome, reason = attempt.get("outcome"), attempt.get("reason")
    if reason == "cache hit":
        return 0
    if outcome != "success" and not attempt.get("billed"):
        if reason_bucket(reason) in (OTHER, CIRCUIT_OPEN):
            return 0  # skipped before any call: privacy, a cooldown, no API key
        return int(rng.lognormvariate(5.7, 0.8))  # a failed call: ~300 ms, widely spread
    median = typical.get(str(attempt.get("model")), BASE_MS)
    return int(median * rng.lognormvariate(0, 0.5))


def _times(rng: random.Random, count: int, start: datetime, end: datetime) -> list[float]:
    """`count` sorted offsets (seconds from `start`), busier from 06:00 to 20:00 UTC."""
    span = (end - start).total_seconds()
    origin = start.timestamp()
    offsets: list[float] = []
    while len(offsets) < count:
        offset = rng.random() * span
        hour = (origin + offset) % 86_400 / 3600
        busy = 6 <= hour < 20
        if rng.random() < (1.0 if busy else 0.3):
            offsets.append(offset)
    offsets.sort()
    return offsets


def _rows(
    rng: random.Random,
    templates: Sequence[Template],
    offsets: Sequence[float],
    start: datetime,
    typical: Mapping[str, float],
) -> Iterator[dict[str, Any]]:
    """One row per offset, copying a template chosen by weight."""
    cumulative, total = [], 0.0
    for template in templates:
        total += template.weight
        cumulative.append(total)
    picks = rng.choices(range(len(templates)), cum_weights=cumulative, k=len(offsets))
    for offset, pick in zip(offsets, picks, strict=True):
        template = templates[pick]
        attempts = [{**a, "latency_ms": _attempt_ms(rng, a, typical)} for a in template.attempts]
        if template.fields["cached"]:
            latency = rng.randrange(1, 5)
        else:
            latency = sum(a["latency_ms"] for a in attempts) + rng.randrange(1, 9)
        yield {
            **template.fields,
            "public_id": uuid.uuid4(),
            "created_at": start + timedelta(seconds=offset),
            "attempts": attempts,
            "latency_ms": latency,
        }


_COLUMNS = [f for f in Decision._meta.concrete_fields if not f.primary_key]
_JSON = {f.attname for f in _COLUMNS if f.get_internal_type() == "JSONField"}


def _write_copy(rows: Sequence[dict[str, Any]]) -> None:
    """COPY on PostgreSQL: an order of magnitude faster than INSERTs for a million rows."""
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {Decision._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row[f.attname]) if f.attname in _JSON else row[f.attname]
                    for f in _COLUMNS
                ]
            )


def _write_orm(rows: Sequence[dict[str, Any]]) -> None:
    Decision.objects.bulk_create([Decision(**row) for row in rows], batch_size=500)


def generate_decisions(
    count: int,
    *,
    days: int = 30,
    shapes: int = 3000,
    seed: int = 1,
    failure_rate: float = FAILURE_RATE,
    batch: int = 20_000,
    progress: Callable[[str], None] = lambda line: None,
) -> Generated:
    """Write `count` decisions spread over the last `days` days (see the module)."""
    if count < 1 or days < 1 or shapes < 1:
        raise ValueError("count, days and shapes must be at least 1")
    if not 0 <= failure_rate <= 1:
        raise ValueError("failure_rate must be between 0 and 1")
    templates = build_templates(shapes, seed=seed, failure_rate=failure_rate, progress=progress)
    rng = random.Random(seed + 1)  # noqa: S311 (as above)
    end = timezone.now()
    start = end - timedelta(days=days)
    offsets = _times(rng, count, start, end)
    typical = _typical_ms(current_snapshot())
    write = _write_copy if connection.vendor == "postgresql" else _write_orm
    result = Generated(shapes=shapes, templates=len(templates))
    pending: list[dict[str, Any]] = []
    for row in _rows(rng, templates, offsets, start, typical):
        pending.append(row)
        if len(pending) >= batch:
            _flush(write, pending, result, progress, count)
    _flush(write, pending, result, progress, count)
    result.first = start + timedelta(seconds=offsets[0])
    result.last = start + timedelta(seconds=offsets[-1])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Decision._meta.db_table}")
    return result


def _flush(
    write: Callable[[Sequence[dict[str, Any]]], None],
    pending: list[dict[str, Any]],
    result: Generated,
    progress: Callable[[str], None],
    count: int,
) -> None:
    if not pending:
        return
    with transaction.atomic():
        write(pending)
    for row in pending:
        result.outcomes[row["outcome"]] = result.outcomes.get(row["outcome"], 0) + 1
    before = result.rows
    result.rows += len(pending)
    pending.clear()
    if result.rows // 100_000 > before // 100_000 or result.rows == count:
        progress(f"  wrote {result.rows:,} of {count:,} decisions")
