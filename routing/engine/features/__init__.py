"""What the router reads from a prompt: its size in tokens, its complexity, its task type.

These are the request features the engine decides from when the caller did not give
them. Everything here is deterministic (the same text always gives the same features, on
every machine, so a decision can be replayed) and cheap, because it runs on every
request: about a tenth of a millisecond for a 2,000-token prompt, PII scan aside. Pure:
no Django, no settings, no clock, no I/O.

Vocabulary. Seed 003 names the task types of its routing table; seed 004 names others
for the same work. Seed 004's names are aliases of ours (see `TASK_TYPE_ALIASES`):

    summarize                              -> summarization
    simple_question                        -> chat
    code_scan, vulnerability_detection     -> code_review
    problem_solving                        -> reasoning
    file_analysis                          -> analysis
    code_review, code_generation, debug,
    reasoning, planning, analysis          -> themselves

Seed 003's table also says "Code Gen", "Testing" and "Docs", and seed 004 routes a
"creative" task; those are aliases too. Complexity has seed 000's four levels on a 1-10
score; seed 003's "medium" is our "moderate".

How text is read. Words are matched whole, case-insensitively, on ASCII letters, with
the inflected forms listed explicitly ("analyzing", "designs", "deployment"), so
"admiration" is not "admin" and "classify" is not "class". The text is handled as UTF-8
bytes because `bytes.translate` is a fast C loop whatever the text contains, whereas
`str.translate` and `str.lower` fall off their fast path as soon as one curly quote
appears.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing.engine.features.complexity import (
    COMPLEXITY_LEVELS,
    COMPLEXITY_VALUE_ERROR,
    LEVEL_ALIASES,
    LEVEL_SCORES,
    Complexity,
    classify_complexity,
    complexity_from_given,
    level_for_score,
)

# The per-text caches (`_lexicon` here, `_stats` below) are private, but re-exported as
# `x as x` so that callers that clear them, as the tests do, reach the same objects.
from routing.engine.features.lexicon import _lexicon as _lexicon
from routing.engine.features.messages import messages_text
from routing.engine.features.task_type import (
    DEFAULT_TASK_TYPE,
    TASK_TYPE_ALIASES,
    TASK_TYPE_EMPTY_ERROR,
    TASK_TYPES,
    infer_task_type,
    normalize_task_type,
)
from routing.engine.features.tokens import TOKEN_COUNTER, estimate_tokens, token_counter_name
from routing.engine.features.tokens import _stats as _stats
from routing.engine.pii import PiiFinding, scan_pii

__all__ = [
    "COMPLEXITY_LEVELS",
    "COMPLEXITY_VALUE_ERROR",
    "DEFAULT_TASK_TYPE",
    "LEVEL_ALIASES",
    "LEVEL_SCORES",
    "TASK_TYPES",
    "TASK_TYPE_ALIASES",
    "TASK_TYPE_EMPTY_ERROR",
    "TOKEN_COUNTER",
    "Complexity",
    "RequestFeatures",
    "classify_complexity",
    "complexity_from_given",
    "estimate_tokens",
    "extract_features",
    "infer_task_type",
    "level_for_score",
    "messages_text",
    "normalize_task_type",
    "token_counter_name",
]


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """Everything the router reads from one prompt, computed in one go."""

    estimated_tokens: int
    complexity: Complexity
    task_type: str
    pii: tuple[PiiFinding, ...]

    @property
    def contains_pii(self) -> bool:
        return bool(self.pii)

    @property
    def pii_types(self) -> tuple[str, ...]:
        return tuple(finding.type for finding in self.pii)


def extract_features(
    text: str, *, task_type: str | None = None, complexity: int | str | None = None
) -> RequestFeatures:
    """All features of a prompt; what the caller gave wins over what is inferred."""
    tokens = estimate_tokens(text)
    return RequestFeatures(
        estimated_tokens=tokens,
        complexity=(
            complexity_from_given(complexity)
            if complexity is not None
            else classify_complexity(text, tokens)
        ),
        task_type=normalize_task_type(task_type) if task_type else infer_task_type(text),
        pii=scan_pii(text),
    )
