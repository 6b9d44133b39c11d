"""Streaming along the chain, with time-to-first-token failover.

Until the first content has gone to the client, any failure (no first token within the
model's limit, an error, an empty answer) moves on to the next model, as in the
non-streamed chain. After it, there is no going back: a failure ends the stream with
an error event. Whatever happens, `run` (an Execution) ends up describing it, so the
caller can account and write the audit row when the stream ends, including when the
client goes away mid-stream (the generator is closed).

Streams are checked for timeouts, errors and emptiness; refusal and schema checks need
the whole answer and apply to non-streamed requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.utils import timezone

from routing.engine import Decision, Snapshot
from routing.engine.features import estimate_tokens, messages_text
from routing.engine.inputs import ModelInfo
from routing.execution import breaker
from routing.execution.executor import Attempt, Execution, provider_failure, skip_reason, target_for
from routing.providers import ChatRequest, ProviderError, stream


def first_token_timeout(model: ModelInfo) -> float:
    configured = (
        model.options.get("first_token_timeout") or settings.SWITCHBOARD_FIRST_TOKEN_TIMEOUT_SECONDS
    )
    return min(float(configured), model.timeout_s)


def stream_chain(
    decision: Decision,
    snapshot: Snapshot,
    messages: Sequence[Mapping[str, Any]],
    run: Execution,
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> Iterator[str]:
    """Yield the answer's text as it arrives, filling `run` as it goes."""
    started_all = time.perf_counter()
    prompt_text = messages_text(messages)
    request = ChatRequest(messages=tuple(messages), max_tokens=max_tokens, temperature=temperature)
    try:
        for candidate in decision.chain:
            model = snapshot.models[candidate.model]
            skip = skip_reason(model, decision)
            if skip is not None:
                run.attempts.append(Attempt(model.key, model.provider, "rejected", skip, 0))
                continue
            done = yield from _one_model(model, request, prompt_text, run)
            if done:
                return
    finally:
        run.latency_ms = int((time.perf_counter() - started_all) * 1000)


def _one_model(
    model: ModelInfo, request: ChatRequest, prompt_text: str, run: Execution
) -> Iterator[str]:
    """Stream one model. Returns True when the stream is over (answered, or failed after
    content was sent), False to fall back to the next model."""
    started = time.perf_counter()
    target = target_for(model, first_token_timeout=first_token_timeout(model))
    pieces: list[str] = []
    held = ""  # leading whitespace, held back so an all-blank answer can still fall back
    usage: tuple[int | None, int | None] = (None, None)
    attempt: Attempt | None = None
    chunks = stream(target, request)
    try:
        for chunk in chunks:
            if chunk.prompt_tokens is not None or chunk.completion_tokens is not None:
                usage = (chunk.prompt_tokens, chunk.completion_tokens)
            if not chunk.text:
                continue
            if not pieces and not (held + chunk.text).strip():
                held += chunk.text
                continue
            text = held + chunk.text if not pieces else chunk.text
            held = ""
            pieces.append(text)
            if attempt is None:  # the client is about to see content: no more fallback
                attempt = Attempt(model.key, model.provider, "success", None, 0, billed=True)
                run.attempts.append(attempt)
                run.answer = attempt
            yield text
    except ProviderError as exc:
        if attempt is None:
            run.attempts.append(provider_failure(model, exc, started))
            return False
        # After the first token the client has part of an answer: end with an error.
        breaker.record_failure(model.key, timezone.now())
        attempt.outcome = "rejected"
        attempt.reason = f"stream failed after the first token: {exc.kind}: {exc.message}"
        run.answer = None
        run.stream_error = attempt.reason
    except GeneratorExit:
        if attempt is not None:
            attempt.reason = "client disconnected mid-stream"
        raise
    finally:
        chunks.close()  # return the connection to the pool, also when the client left
        if attempt is not None:
            _settle(attempt, model, prompt_text, "".join(pieces), usage, started)
            run.text = "".join(pieces)
    if attempt is None:
        reject = Attempt(
            model.key, model.provider, "rejected", "empty answer", _ms(started), billed=True
        )
        _settle(reject, model, prompt_text, held, usage, started)
        run.attempts.append(reject)
        breaker.record_failure(model.key, timezone.now())
        return False
    if run.answer is attempt:
        breaker.record_success(model.key)
    return True


def _settle(
    attempt: Attempt,
    model: ModelInfo,
    prompt_text: str,
    text: str,
    usage: tuple[int | None, int | None],
    started: float,
) -> None:
    """Tokens (the stream's usage, else an estimate, marked as such), cost and latency."""
    prompt_tokens, completion_tokens = usage
    if prompt_tokens is None or completion_tokens is None:
        prompt_tokens, completion_tokens = estimate_tokens(prompt_text), estimate_tokens(text)
        attempt.usage_estimated = True
    attempt.prompt_tokens, attempt.completion_tokens = prompt_tokens, completion_tokens
    attempt.cost_usd = round(model.estimated_cost(prompt_tokens, completion_tokens) or 0.0, 8)
    attempt.latency_ms = _ms(started)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
