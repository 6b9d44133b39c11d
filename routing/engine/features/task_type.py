"""Task types: the vocabulary (seed 003's names, seed 004's as aliases), inferring a
type from the text, and normalizing a type a caller gave.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from routing.engine.features.lexicon import _lexicon
from routing.engine.features.vocabulary import _TASK_PHRASES, _TASK_PRIORITY, _TASK_WORDS

TASK_TYPES = (
    "reasoning",
    "code_generation",
    "code_review",
    "debug",
    "classification",
    "embedding",
    "summarization",
    "chat",
    "planning",
    "analysis",
    "test_generation",
    "documentation",
    "translation",
    "extraction",
    "creative_writing",
)

TASK_TYPE_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        # seed 004
        "summarize": "summarization",
        "simple_question": "chat",
        "code_scan": "code_review",
        "vulnerability_detection": "code_review",
        "problem_solving": "reasoning",
        "file_analysis": "analysis",
        "creative": "creative_writing",
        # seed 003's table headings
        "code_gen": "code_generation",
        "testing": "test_generation",
        "docs": "documentation",
    }
)

DEFAULT_TASK_TYPE = "chat"

TASK_TYPE_EMPTY_ERROR = "task type must not be empty"


def _invert(table: Mapping[str, Mapping[str, int]]) -> Mapping[str, tuple[tuple[str, int], ...]]:
    triggers: dict[str, tuple[tuple[str, int], ...]] = {}
    for task, words in table.items():
        for word, weight in words.items():
            triggers[word] = (*triggers.get(word, ()), (task, weight))
    return MappingProxyType(triggers)


_WORD_TRIGGERS = _invert(_TASK_WORDS)


def infer_task_type(text: str) -> str:
    """The task type the text most looks like, from weighted trigger words and phrases
    (`_TASK_WORDS`, `_TASK_PHRASES`); "chat" when nothing points anywhere."""
    lexicon = _lexicon(text)
    scores: dict[str, int] = {}
    for word in lexicon.words:
        for task, weight in _WORD_TRIGGERS.get(word, ()):
            scores[task] = scores.get(task, 0) + weight
    for phrase, task, weight in _TASK_PHRASES:
        if phrase in lexicon.phrases:
            scores[task] = scores.get(task, 0) + weight
    if not scores:
        return DEFAULT_TASK_TYPE
    return max(_TASK_PRIORITY, key=lambda task: scores.get(task, 0))  # ties: the first


_SPACES_AND_DASHES = re.compile(r"[\s-]+")


def normalize_task_type(value: str) -> str:
    """A caller's task type in our vocabulary: seed aliases become canonical names,
    anything else is kept (stripped, lowercased) so an agent's own types still work."""
    name = value.strip().lower()
    if not name:
        raise ValueError(TASK_TYPE_EMPTY_ERROR)
    if name in TASK_TYPES:
        return name
    if name in TASK_TYPE_ALIASES:
        return TASK_TYPE_ALIASES[name]
    snake = _SPACES_AND_DASHES.sub("_", name)  # "Code Gen", "code-review"
    if snake in TASK_TYPES:
        return snake
    return TASK_TYPE_ALIASES.get(snake, name)
