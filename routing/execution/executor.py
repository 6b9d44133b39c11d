"""Run a decision's chain: call each model in order until one gives a valid answer.

Seed 001's fallback chain. Each hop re-checks privacy (a local-only decision never
calls a cloud model, whatever the chain says), skips models cooling down or with an
open circuit, and records an attempt: model, outcome, reason, latency, tokens, cost.
Answers rejected after the provider billed them (empty, refusal, invalid JSON) are the
"fallback tax", accounted separately.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from routing.engine import Decision, Snapshot
from routing.engine.features import estimate_tokens, messages_text
from routing.engine.inputs import ModelInfo
from routing.execution import breaker, response_cache
from routing.execution.validation import DEFAULT_REFUSAL_PATTERNS, check_answer
from routing.providers import ChatRequest, ChatResult, ProviderError, Target, complete

VERIFY_PROMPT = (
    "You are checking another model's answer to a critical task. Reply with APPROVE or "
    "REJECT on the first line, then one line saying why.\n\nTask:\n{task}\n\nAnswer:\n{answer}"
)


@dataclass
class Attempt:
    model: str
    provider: str
    outcome: str  # success | rejected | invalid (seed 001)
    reason: str | None
    latency_ms: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: float = 0.0
    billed: bool = False  # the provider answered, so it charged for the tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Execution:
    attempts: list[Attempt] = field(default_factory=list)
    answer: Attempt | None = None
    text: str = ""
    content: Any = None
    verification: dict[str, Any] | None = None
    latency_ms: int = 0
    stream_error: str | None = None  # a stream that failed after its first token
    cached: bool = False  # answered from the response cache

    @property
    def succeeded(self) -> bool:
        return self.answer is not None

    @property
    def billed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.billed]

    @property
    def cost_usd(self) -> float:
        return self.answer.cost_usd if self.answer else 0.0

    @property
    def fallback_tax_usd(self) -> float:
        return round(sum(a.cost_usd for a in self.billed if a is not self.answer), 8)


def target_for(model: ModelInfo, *, first_token_timeout: float | None = None) -> Target:
    key = os.environ.get(model.api_key_env) if model.api_key_env else None
    return Target(
        kind=model.provider_kind,
        base_url=model.base_url,
        model_id=model.model_id,
        api_key=key or None,
        connect_timeout=min(5.0, model.timeout_s),
        timeout=model.timeout_s,
        first_token_timeout=first_token_timeout,
        options=model.options,
    )


def _usage(result: ChatResult, prompt_text: str) -> tuple[int, int, bool]:
    if result.prompt_tokens is not None and result.completion_tokens is not None:
        return result.prompt_tokens, result.completion_tokens, False
    return estimate_tokens(prompt_text), estimate_tokens(result.text), True


def skip_reason(
    model: ModelInfo, decision: Decision, *, recheck_cooldown: bool = True
) -> str | None:
    """Why this hop must not be called at all (checked again at every hop). The first
    hop may skip the cooldown check: the decision read the cooldowns a moment ago."""
    if decision.flags.local_only and not model.is_local:
        return "privacy: only local models may see this request"
    if recheck_cooldown:
        until = breaker.cooling_until(model.key, timezone.now())
        if until is not None:
            return f"cooling down until {until.isoformat(timespec='seconds')}"
    if (
        model.api_key_env
        and not os.environ.get(model.api_key_env)
        and model.provider_kind != "simulated"
    ):
        return f"no API key: environment variable {model.api_key_env} is not set"
    return None


def provider_failure(
    model: ModelInfo, exc: ProviderError, started: float, *, prefix: str = ""
) -> Attempt:
    """The attempt for a call that failed; a 429 cools the model down, anything else
    counts towards its circuit breaker."""
    latency = int((time.perf_counter() - started) * 1000)
    now = timezone.now()
    if exc.kind == "http_429":
        seconds = exc.retry_after or settings.SWITCHBOARD_DEFAULT_COOLDOWN_SECONDS
        until = breaker.cool_down(model.key, seconds, now)
        reason = f"rate limited (429); cooling down until {until.isoformat(timespec='seconds')}"
    else:
        reason = f"{exc.kind}: {exc.message}"
        if breaker.record_failure(model.key, now):
            reason += f" (circuit open for {settings.SWITCHBOARD_CIRCUIT_SECONDS}s)"
    return Attempt(model.key, model.provider, "rejected", prefix + reason, latency)


def call_model(
    model: ModelInfo,
    messages: Sequence[Mapping[str, Any]],
    *,
    schema: Mapping[str, Any] | None,
    max_tokens: int | None,
    temperature: float | None,
) -> tuple[Attempt, ChatResult | None, Any]:
    """One hop: call, check, and cost the answer. Never raises for a model's failure."""
    request = ChatRequest(
        messages=tuple(messages),
        max_tokens=max_tokens,
        temperature=temperature,
        json_mode=schema is not None,
    )
    started = time.perf_counter()
    try:
        result = complete(target_for(model), request)
    except ProviderError as exc:
        return provider_failure(model, exc, started), None, None
    latency = int((time.perf_counter() - started) * 1000)
    prompt_tokens, completion_tokens, estimated = _usage(result, messages_text(messages))
    cost = model.estimated_cost(prompt_tokens, completion_tokens) or 0.0
    verdict = check_answer(
        result.text,
        result.finish_reason,
        schema=schema,
        refusal_patterns=settings.SWITCHBOARD_REFUSAL_PATTERNS or DEFAULT_REFUSAL_PATTERNS,
    )
    if verdict.ok:
        breaker.record_success(model.key)
    else:
        breaker.record_failure(model.key, timezone.now())
    attempt = Attempt(
        model.key,
        model.provider,
        verdict.outcome,
        verdict.reason,
        latency,
        prompt_tokens,
        completion_tokens,
        estimated,
        round(cost, 8),
        billed=True,
    )
    return attempt, result, verdict.content


def execute(
    decision: Decision,
    snapshot: Snapshot,
    messages: Sequence[Mapping[str, Any]],
    *,
    schema: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    use_cache: bool = True,
) -> Execution:
    started = time.perf_counter()
    run = Execution()
    call = {"schema": schema, "max_tokens": max_tokens, "temperature": temperature}
    cacheable = use_cache and decision.flags.cache_allowed
    if cacheable and _from_cache(run, decision, messages, call):
        run.latency_ms = int((time.perf_counter() - started) * 1000)
        return run
    chain = list(decision.chain)
    if decision.flags.hedge and len(chain) >= 2:
        from routing.execution.hedging import hedge  # imports this module

        hedge(run, decision, snapshot, messages, chain[:2], call)
        chain = chain[2:]
    for hop, candidate in enumerate(chain if run.answer is None else []):
        model = snapshot.models[candidate.model]
        skip = skip_reason(
            model, decision, recheck_cooldown=hop > 0 or len(chain) < len(decision.chain)
        )
        if skip is not None:
            run.attempts.append(Attempt(model.key, model.provider, "rejected", skip, 0))
            continue
        attempt, result, content = call_model(model, messages, **call)
        run.attempts.append(attempt)
        if attempt.outcome == "success" and result is not None:
            run.answer, run.text, run.content = attempt, result.text, content
            break
    if (
        run.answer is not None
        and decision.flags.verify_with_cloud
        and snapshot.models[run.answer.model].is_local
    ):
        _verify(run, decision, snapshot, messages, **call)
    if cacheable and run.answer is not None:
        response_cache.store(
            run.answer.model,
            messages,
            call,
            {
                "text": run.text,
                "content": run.content,
                "prompt_tokens": run.answer.prompt_tokens,
                "completion_tokens": run.answer.completion_tokens,
            },
        )
    run.latency_ms = int((time.perf_counter() - started) * 1000)
    return run


def _from_cache(
    run: Execution,
    decision: Decision,
    messages: Sequence[Mapping[str, Any]],
    call: Mapping[str, Any],
) -> bool:
    hit = response_cache.lookup([c.model for c in decision.chain], messages, call)
    if hit is None:
        return False
    model, entry = hit
    provider = next(c.provider for c in decision.chain if c.model == model)
    # A hit costs nothing: the tokens are recorded for reference, not billed.
    attempt = Attempt(
        model,
        provider,
        "success",
        "cache hit",
        0,
        entry["prompt_tokens"],
        entry["completion_tokens"],
    )
    run.attempts.append(attempt)
    run.answer, run.text, run.content, run.cached = attempt, entry["text"], entry["content"], True
    return True


def _verify(
    run: Execution,
    decision: Decision,
    snapshot: Snapshot,
    messages: Sequence[Mapping[str, Any]],
    **call: Any,
) -> None:
    """Seed 002's quality_assurance: a cloud model checks a local answer to a critical
    task; when it rejects the answer, its own answer is used instead."""
    assert run.answer is not None
    assert decision.flags.verify_with_cloud is not None
    checker = snapshot.models[decision.flags.verify_with_cloud]
    skip = skip_reason(checker, decision)
    if skip is not None:
        run.verification = {"model": checker.key, "verdict": "skipped", "reason": skip}
        return
    prompt = VERIFY_PROMPT.format(task=messages_text(messages)[-4000:], answer=run.text[:4000])
    attempt, result, _ = call_model(
        checker, [{"role": "user", "content": prompt}], schema=None, max_tokens=64, temperature=0
    )
    verdict = "error"
    if result is not None and attempt.outcome == "success":
        first = result.text.strip().upper()
        verdict = (
            "approve"
            if first.startswith("APPROVE")
            else "reject"
            if first.startswith("REJECT")
            else "error"
        )
    run.verification = {
        "model": checker.key,
        "verdict": verdict,
        "reason": (result.text.strip().splitlines() or [""])[-1][:300]
        if result
        else attempt.reason,
        "latency_ms": attempt.latency_ms,
        "cost_usd": attempt.cost_usd,
    }
    attempt.reason = f"verification: {verdict}"
    run.attempts.append(attempt)
    if verdict != "reject":
        return
    local = run.answer
    escalation, result, content = call_model(checker, messages, **call)
    escalation.reason = (
        escalation.reason or "cloud answer after verification rejected the local one"
    )
    run.attempts.append(escalation)
    if escalation.outcome == "success" and result is not None:
        local.outcome, local.reason = "rejected", "cloud verification rejected this answer"
        run.answer, run.text, run.content = escalation, result.text, content
