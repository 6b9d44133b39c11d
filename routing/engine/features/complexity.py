"""Complexity: seed 000's four levels on a 1-10 score, with the reasons for the score.

`classify_complexity` infers it from the text; `complexity_from_given` takes what a
caller gave, a score or a level name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from routing.engine.features.lexicon import _Lexicon, _lexicon
from routing.engine.features.tokens import _stats
from routing.engine.features.vocabulary import (
    _CODE_REQUEST_WORDS,
    _COMPLEX_KEYWORDS,
    _CRITICAL_KEYWORDS,
    _SEQUENCE_WORDS,
    _SIMPLE_KEYWORDS,
    _SIMPLE_PHRASES,
)

COMPLEXITY_LEVELS = ("simple", "moderate", "complex", "critical")

# The score each level stands for when a caller gives a level instead of a number: the
# middle of its band, rounded down (bands: 1-3, 4-6, 7-8, 9-10).
LEVEL_SCORES: Mapping[str, int] = MappingProxyType(
    {"simple": 2, "moderate": 5, "complex": 7, "critical": 9}
)
LEVEL_ALIASES: Mapping[str, str] = MappingProxyType({"medium": "moderate"})

COMPLEXITY_VALUE_ERROR = (
    "complexity must be a whole number from 1 to 10 or one of "
    "simple, moderate (or medium), complex, critical; got {value!r}"
)


@dataclass(frozen=True, slots=True)
class Complexity:
    """How hard a task looks: a level, a 1-10 score, and what drove the score (such as
    ``keyword:production``, ``code_block``, ``multi_step``, ``long_prompt:2400_tokens``,
    or ``given`` when the caller supplied it)."""

    level: str
    score: int
    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        if level_for_score(self.score) != self.level:
            raise ValueError(f"complexity level {self.level!r} does not match score {self.score}")


def level_for_score(score: int) -> str:
    """Seed 000's level for a 1-10 score: 1-3 simple, 4-6 moderate, 7-8 complex, 9-10
    critical."""
    if not 1 <= score <= 10:
        raise ValueError(f"complexity score must be from 1 to 10; got {score!r}")
    if score <= 3:
        return "simple"
    if score <= 6:
        return "moderate"
    if score <= 8:
        return "complex"
    return "critical"


# Length bands: (at least this many tokens, points).
_LENGTH_POINTS = ((16_000, 4), (4_000, 3), (1_000, 2), (300, 1))
_LONG_PROMPT_TOKENS = 1_000
_CODE_REQUEST_POINTS = 3  # "Write a fibonacci function" is moderate (seed 000)
_CODE_BLOCK_POINTS = 3  # so is a question about a pasted snippet
_CODE_SYNTAX_POINTS = 2
_CODE_SYMBOL_POINTS = 1
_MAX_CODE_POINTS = 4  # code makes a task moderate; length and steps make it more
_MULTI_STEP_POINTS = 2
_QUESTIONS_POINTS = 1
_SIMPLE_KEYWORD_POINTS = -2
_MAX_WITHOUT_KEYWORDS = 8  # only a critical keyword makes a task critical
_COMPLEX_FLOOR = 7
_CRITICAL_FLOOR = 9
_MIN_CODE_SYMBOLS = 6
_CODE_SYMBOL_SHARE = 40  # at least one brace or semicolon per 40 characters


def _keywords_in(words: frozenset[str], table: Mapping[str, tuple[str, ...]]) -> list[str]:
    return [keyword for keyword, forms in table.items() if not words.isdisjoint(forms)]


def classify_complexity(text: str, estimated_tokens: int) -> Complexity:
    """Seed 000's keyword classifier, made into a 1-10 score with reasons.

    Points add up from 1: length (from ``estimated_tokens``), code (asked for, fenced,
    written inline, or dense in braces; 4 points at most), several steps or questions; a
    simple keyword (summarize, translate, hello, what is, define, explain) takes two off.
    That total is capped at 8 (complex): only seed 000's critical keywords make a task
    critical. A complex keyword (research, analyze, compare, design, architect, security,
    audit) raises the score to at least 7, or 8 with two of them; a critical keyword
    (deploy, production, delete, admin, payment, credential, secret) to at least 9, or 10
    with two of them.
    """
    lexicon = _lexicon(text)
    critical = _keywords_in(lexicon.words, _CRITICAL_KEYWORDS)
    complex_ = _keywords_in(lexicon.words, _COMPLEX_KEYWORDS)
    simple = _keywords_in(lexicon.words, _SIMPLE_KEYWORDS) + [
        phrase for phrase, forms in _SIMPLE_PHRASES.items() if not lexicon.phrases.isdisjoint(forms)
    ]
    reasons = [f"keyword:{keyword}" for keyword in (*critical, *complex_, *simple)]

    points = 1
    for threshold, length_points in _LENGTH_POINTS:
        if estimated_tokens >= threshold:
            points += length_points
            label = "long_prompt" if estimated_tokens >= _LONG_PROMPT_TOKENS else "medium_prompt"
            reasons.append(f"{label}:{estimated_tokens}_tokens")
            break
    code_points, code_reasons = _code_points(text, lexicon)
    points += min(code_points, _MAX_CODE_POINTS)
    reasons += code_reasons
    if _is_multi_step(lexicon):
        points += _MULTI_STEP_POINTS
        reasons.append("multi_step")
    if lexicon.questions >= 2:
        points += _QUESTIONS_POINTS
        reasons.append("several_questions")
    if simple and not critical and not complex_:
        points += _SIMPLE_KEYWORD_POINTS

    score = max(1, min(points, _MAX_WITHOUT_KEYWORDS))
    if complex_:
        score = max(score, _COMPLEX_FLOOR + (len(complex_) >= 2))
    if critical:
        score = max(score, _CRITICAL_FLOOR + (len(critical) >= 2))
    return Complexity(level=level_for_score(score), score=score, reasons=tuple(reasons))


def _code_points(text: str, lexicon: _Lexicon) -> tuple[int, list[str]]:
    points, reasons = 0, []
    if not lexicon.words.isdisjoint(_CODE_REQUEST_WORDS):
        points += _CODE_REQUEST_POINTS
        reasons.append("code_request")
    if lexicon.code_block:
        points += _CODE_BLOCK_POINTS
        reasons.append("code_block")
    elif lexicon.code_syntax:
        points += _CODE_SYNTAX_POINTS
        reasons.append("code_syntax")
    symbols = _stats(text).code_symbols
    if symbols >= _MIN_CODE_SYMBOLS and symbols * _CODE_SYMBOL_SHARE >= len(text):
        points += _CODE_SYMBOL_POINTS
        reasons.append("code_symbols")
    return points, reasons


def _is_multi_step(lexicon: _Lexicon) -> bool:
    if lexicon.numbered_items >= 2 or "step by step" in lexicon.phrases:
        return True
    return "first" in lexicon.words and not lexicon.words.isdisjoint(_SEQUENCE_WORDS)


def complexity_from_given(value: int | str) -> Complexity:
    """The complexity a caller gave: a score from 1 to 10, or a level name (seed 003's
    "medium" means moderate). A level stands for the middle of its band (`LEVEL_SCORES`).
    """
    if isinstance(value, bool):  # True is an int; it is not a complexity
        raise ValueError(COMPLEXITY_VALUE_ERROR.format(value=value))
    if isinstance(value, int):
        if not 1 <= value <= 10:
            raise ValueError(COMPLEXITY_VALUE_ERROR.format(value=value))
        return Complexity(level=level_for_score(value), score=value, reasons=("given",))
    if isinstance(value, str):
        name = value.strip().lower()
        level = LEVEL_ALIASES.get(name, name)
        if level in LEVEL_SCORES:
            return Complexity(level=level, score=LEVEL_SCORES[level], reasons=("given",))
    raise ValueError(COMPLEXITY_VALUE_ERROR.format(value=value))
