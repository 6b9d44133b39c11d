"""Hedged requests (performance_optimized's `parallel_requests`): call the top two
candidates at once and keep the first valid answer.

The providers are called through the shared synchronous client, which cannot abort a
request in flight; the loser is let go instead (its thread finishes on its own and its
result is dropped). Both attempts are recorded: the loser with its cost when it had
already answered (it was billed), or as cancelled when it had not (a provider may
still bill for it; that is not knowable from here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from routing.engine import Decision, Snapshot
from routing.engine.result import Candidate
from routing.execution.executor import Attempt, Execution, call_model, skip_reason

# Shared by all requests of the process; two slots per hedged request in flight.
_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hedge")


def hedge(
    run: Execution,
    decision: Decision,
    snapshot: Snapshot,
    messages: Sequence[Mapping[str, Any]],
    pair: Sequence[Candidate],
    call: Mapping[str, Any],
) -> None:
    futures: dict[Future[Any], str] = {}
    for candidate in pair:
        model = snapshot.models[candidate.model]
        skip = skip_reason(model, decision)
        if skip is not None:
            run.attempts.append(Attempt(model.key, model.provider, "rejected", skip, 0))
            continue
        futures[_pool.submit(call_model, model, messages, **call)] = model.key
    pending = set(futures)
    while pending and run.answer is None:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            attempt, result, content = future.result()
            if run.answer is None and attempt.outcome == "success" and result is not None:
                attempt.reason = "won the hedge"
                run.answer, run.text, run.content = attempt, result.text, content
            elif attempt.outcome == "success":
                attempt.outcome, attempt.reason = (
                    "rejected",
                    "lost the hedge (answered later; billed)",
                )
            run.attempts.append(attempt)
    for future in pending:
        model_key = futures[future]
        provider = snapshot.models[model_key].provider
        if future.done():
            attempt, _, _ = future.result()
            if attempt.outcome == "success":
                attempt.outcome, attempt.reason = (
                    "rejected",
                    "lost the hedge (answered later; billed)",
                )
            run.attempts.append(attempt)
        else:
            run.attempts.append(
                Attempt(
                    model_key, provider, "rejected", "cancelled: lost the hedge (still running)", 0
                )
            )
