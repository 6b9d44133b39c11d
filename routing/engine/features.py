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

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from routing.engine.pii import PiiFinding, scan_pii

COMPLEXITY_LEVELS = ("simple", "moderate", "complex", "critical")

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
TASK_TYPE_EMPTY_ERROR = "task type must not be empty"

# The estimate is the default, and the only counter used: it is the same on every
# machine (a tokenizer's vocabulary can differ between versions, and none can be
# downloaded here), so a replayed decision sees the same count. It errs high on code.
TOKEN_COUNTER = "estimate:chars"  # noqa: S105 - the name of a method, not a secret


def token_counter_name() -> str:
    """How `estimate_tokens` counts, recorded beside each count it produces."""
    return TOKEN_COUNTER


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


# -- messages ---------------------------------------------------------------------------


def messages_text(messages: Sequence[Mapping[str, object]]) -> str:
    """The text of OpenAI-format chat messages, one content after another, joined with
    newlines. A content is a string or a list of parts; text parts count, image and
    audio parts do not (they carry no words to classify)."""
    pieces: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            if content:
                pieces.append(content)
        elif isinstance(content, list | tuple):
            for part in content:
                if isinstance(part, str):
                    if part:
                        pieces.append(part)
                elif isinstance(part, Mapping) and part.get("type") == "text":
                    value = part.get("text")
                    if isinstance(value, str) and value:
                        pieces.append(value)
    return "\n".join(pieces)


# -- tokens -----------------------------------------------------------------------------

# Weights in eighths of a token, per UTF-8 byte. Prose runs about 4 characters a token
# (a letter or a space is 2/8); digits are split into groups of up to three (3/8);
# punctuation and newlines often stand alone, which is what makes code denser (4/8).
# Outside ASCII only the first byte of a character is weighed: CJK, kana and Hangul
# (U+3000-U+DFFF, first byte E3-ED) about a token a character (8/8), other scripts and
# symbols about half (4/8).
_W_ZERO, _W_PLAIN, _W_DIGIT, _W_MARK, _W_BRACE, _W_CJK = b"0", b"2", b"3", b"4", b"{", b"8"


def _byte_class(byte: int) -> bytes:
    if byte >= 0x80:
        if byte < 0xC2 or byte > 0xF4:
            return _W_ZERO  # a continuation byte (or never valid UTF-8)
        return _W_CJK if 0xE3 <= byte <= 0xED else _W_MARK
    char = chr(byte)
    if char.isalpha() or char in " \t":
        return _W_PLAIN
    if char.isdigit():
        return _W_DIGIT
    return _W_BRACE if char in "{};" else _W_MARK


_BYTE_CLASSES = b"".join(_byte_class(byte) for byte in range(256))


@dataclass(frozen=True, slots=True)
class _Stats:
    eighths: int  # the token estimate, in eighths of a token
    code_symbols: int  # braces and semicolons


@functools.lru_cache(maxsize=4)
def _stats(text: str) -> _Stats:
    # Cached (four texts at most) because the engine asks for tokens and complexity of
    # the same text in turn.
    data = text.encode("utf-8", "surrogatepass")
    classes = data.translate(_BYTE_CLASSES)
    digits = classes.count(_W_DIGIT)
    marks = classes.count(_W_MARK)
    braces = classes.count(_W_BRACE)
    cjk = zero = 0
    if not text.isascii():
        cjk = classes.count(_W_CJK)
        zero = classes.count(_W_ZERO)
    plain = len(classes) - digits - marks - braces - cjk - zero
    eighths = 2 * plain + 3 * digits + 4 * (marks + braces) + 8 * cjk
    return _Stats(eighths=eighths, code_symbols=braces)


def estimate_tokens(text: str) -> int:
    """An estimate of the prompt's size in tokens, from its characters (see
    `TOKEN_COUNTER`): about 4 characters a token for English prose, 3 for code, 1 for
    CJK. Adding text never lowers it; only empty text is 0."""
    return math.ceil(_stats(text).eighths / 8)


# -- words ------------------------------------------------------------------------------


# Seed 000's keyword sets, each keyword with the forms that count for it.
_CRITICAL_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "deploy": ("deploy", "deploys", "deployed", "deploying", "deployment", "deployments"),
    "production": ("production", "prod"),
    "delete": ("delete", "deletes", "deleted", "deleting", "deletion", "deletions"),
    "admin": ("admin", "admins", "administrator", "administrators"),
    "payment": ("payment", "payments"),
    "credential": ("credential", "credentials"),
    "secret": ("secret", "secrets"),
}
_COMPLEX_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "research": ("research", "researches", "researched", "researching"),
    "analyze": (
        "analyze",
        "analyzes",
        "analyzed",
        "analyzing",
        "analyse",
        "analyses",
        "analysed",
        "analysing",
        "analysis",
    ),
    "compare": ("compare", "compares", "compared", "comparing", "comparison", "comparisons"),
    "design": ("design", "designs", "designed", "designing"),
    "architect": (
        "architect",
        "architects",
        "architecting",
        "architecture",
        "architectures",
        "architectural",
    ),
    "security": ("security",),
    "audit": ("audit", "audits", "audited", "auditing"),
}
_SIMPLE_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "summarize": ("summarize", "summarizes", "summarizing", "summarise", "summary"),
    "translate": ("translate", "translates", "translating", "translation"),
    "hello": ("hello",),
    "define": ("define", "defines", "definition"),
    "explain": ("explain", "explains", "explaining", "explanation"),
}
_SIMPLE_PHRASES: Mapping[str, tuple[str, ...]] = {"what is": ("what is", "what s")}

# Asking for code makes a task at least moderate (seed 000: "code", "function").
_CODE_REQUEST_WORDS = frozenset(
    {
        "code", "coding", "function", "functions", "implement", "implements", "implementing",
        "implementation", "script", "scripts", "program", "programming", "refactor",
        "refactoring", "algorithm", "algorithms", "regex", "snippet", "bug", "bugs",
        "compile", "endpoint",
    }
)  # fmt: skip
_SEQUENCE_WORDS = frozenset({"then", "finally", "afterwards"})  # after "first"

# Task-type triggers: words (whole, lowercase) and their weights. The type with the most
# weight wins; ties go to the earlier type in `_TASK_PRIORITY`; no trigger means chat.
_TASK_WORDS: Mapping[str, Mapping[str, int]] = {
    "test_generation": {
        "pytest": 3, "unittest": 3, "unittests": 3, "jest": 2, "test": 1, "tests": 1,
        "testing": 1, "coverage": 1, "mock": 1, "mocks": 1, "fixtures": 1,
    },
    "code_review": {
        "review": 3, "reviewing": 3, "diff": 2, "vulnerability": 2, "vulnerabilities": 2,
        "lint": 2, "linter": 1, "feedback": 1, "audit": 1,
    },
    "debug": {
        "debug": 3, "debugging": 3, "traceback": 3, "stacktrace": 3, "segfault": 3,
        "error": 2, "errors": 1, "exception": 2, "bug": 2, "bugs": 1, "crash": 2,
        "crashes": 2, "crashing": 2, "fail": 2, "fails": 2, "failing": 2, "failed": 1,
        "broken": 1, "fix": 2,
    },
    "code_generation": {
        "implement": 3, "function": 2, "code": 2, "script": 2, "snippet": 2, "refactor": 2,
        "regex": 2, "class": 1, "method": 1, "program": 1, "python": 1, "javascript": 1,
        "typescript": 1, "rust": 1, "java": 1, "golang": 1, "sql": 1, "endpoint": 1,
        "api": 1, "algorithm": 1,
    },
    "classification": {
        "classify": 3, "classification": 3, "categorize": 3, "categorise": 3,
        "sentiment": 3, "label": 2, "labels": 1, "category": 1, "categories": 2,
        "intent": 1, "spam": 1,
    },
    "embedding": {
        "embed": 3, "embedding": 3, "embeddings": 3, "vectorize": 3, "vector": 1, "vectors": 1,
    },
    "summarization": {
        "summarize": 3, "summarise": 3, "summary": 3, "summarization": 3, "tldr": 3,
        "condense": 2, "recap": 2, "gist": 2, "shorten": 1,
    },
    "translation": {
        "translate": 3, "translation": 3, "translating": 3, "french": 1, "german": 1,
        "spanish": 1, "english": 1, "japanese": 1, "chinese": 1, "italian": 1,
        "portuguese": 1,
    },
    "extraction": {"extract": 3, "extraction": 3, "parse": 2, "entities": 2, "fields": 1},
    # Seed 003 counts architecture design with multi-step planning: deciding how to
    # build something before building it.
    "planning": {
        "design": 2, "architecture": 2, "architect": 2,
        "plan": 3, "planning": 3, "roadmap": 3, "milestones": 2, "schedule": 2,
        "timeline": 2, "migration": 1, "strategy": 1,
    },
    "analysis": {
        "analyze": 3, "analyse": 3, "analysis": 3, "compare": 2, "comparison": 2,
        "evaluate": 2, "assess": 2, "trends": 2, "insights": 2, "metrics": 1,
        "statistics": 1,
    },
    "reasoning": {
        "prove": 3, "proof": 3, "puzzle": 3, "riddle": 3, "reasoning": 2, "logic": 2,
        "solve": 2, "calculate": 2, "math": 2, "equation": 2, "derive": 2, "probability": 2,
    },
    "documentation": {
        "documentation": 3, "docstring": 3, "docstrings": 3, "readme": 3, "docs": 2,
        "document": 1, "comments": 1,
    },
    "creative_writing": {
        "poem": 3, "story": 3, "haiku": 3, "lyrics": 3, "limerick": 3, "fiction": 3,
        "novel": 2, "song": 2, "slogan": 2, "tagline": 2, "essay": 2, "joke": 2, "creative": 2,
    },
    "chat": {"hi": 2, "hello": 2, "hey": 2, "thanks": 2, "thank": 2},
}  # fmt: skip
# Phrases are matched on the text with punctuation turned into spaces ("tl;dr" -> "tl dr").
_TASK_PHRASES: tuple[tuple[str, str, int], ...] = (
    ("stack trace", "debug", 3),
    ("not working", "debug", 2),
    ("doesn t work", "debug", 2),
    ("unit test", "test_generation", 4),
    ("unit tests", "test_generation", 4),
    ("test cases", "test_generation", 3),
    ("write tests", "test_generation", 4),
    ("write a test", "test_generation", 4),
    ("pull request", "code_review", 3),
    ("code review", "code_review", 3),
    ("tl dr", "summarization", 3),
    ("key points", "summarization", 2),
    ("named entities", "extraction", 2),
    ("yes or no", "classification", 2),
    ("how are you", "chat", 3),
)
_TASK_PRIORITY = (
    "test_generation", "code_review", "debug", "embedding", "classification", "translation",
    "summarization", "extraction", "documentation", "creative_writing", "planning",
    "code_generation", "analysis", "reasoning", "chat",
)  # fmt: skip
_MULTI_STEP_PHRASES = ("step by step",)

# Code syntax. Each check runs only when its gate words are in the text, and each pattern
# starts with a literal, so together they cost a few microseconds. Open-ended parts are
# bounded so that text repeating a gate word ("SELECT SELECT ...") stays linear.
_CODE_SYNTAX: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (frozenset({"def"}), re.compile(r"def[ \t]+[A-Za-z_]\w*[ \t]*\(")),
    (frozenset({"class"}), re.compile(r"class[ \t]+[A-Za-z_]\w*[ \t]*[:({<]")),
    (frozenset({"function"}), re.compile(r"function[ \t]*[A-Za-z_$]?[\w$]*[ \t]*\(")),
    # At the start of a line, so "import the data" in prose is not code.
    (frozenset({"import"}), re.compile(r"\n[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+[\w.{*]")),
    (
        frozenset({"select", "from"}),
        re.compile(r"SELECT[ \t\n]+[\w*.,() \t\n]{1,300}?[ \t\n]FROM[ \t\n]+\w"),
    ),
    (frozenset({"include"}), re.compile(r"#include[ \t]*[<\"]")),
    (frozenset({"fn"}), re.compile(r"fn[ \t]+[A-Za-z_]\w*[ \t]*[(<]")),
    (
        frozenset({"func"}),
        re.compile(r"func[ \t]+(?:\([^)\n]{0,80}\)[ \t]*)?[A-Za-z_]\w*[ \t]*\("),
    ),
)
_NUMBERED_ITEM = re.compile(r"\n[ \t]*[0-9]{1,2}[.)][ \t]")
_NUMBERED_FIRST = re.compile(r"[ \t]*[0-9]{1,2}[.)][ \t]")


def _word_table() -> bytes:
    # ASCII letters lowercased, non-ASCII bytes kept (so "café" stays one word that
    # matches nothing), everything else becomes a space.
    table = bytearray(b" " * 256)
    for byte in range(256):
        if 0x61 <= byte <= 0x7A or byte >= 0x80:
            table[byte] = byte
        elif 0x41 <= byte <= 0x5A:
            table[byte] = byte + 0x20
    return bytes(table)


_WORD_TABLE = _word_table()


_PHRASES = (
    *(phrase for phrase, _type, _weight in _TASK_PHRASES),
    *(phrase for forms in _SIMPLE_PHRASES.values() for phrase in forms),
    *_MULTI_STEP_PHRASES,
)
# A phrase is looked for (padded with spaces, so on word boundaries) only when all of its
# words are in the text.
_PHRASE_NEEDLES: Mapping[str, tuple[bytes, frozenset[str]]] = MappingProxyType(
    {phrase: (f" {phrase} ".encode(), frozenset(phrase.split())) for phrase in _PHRASES}
)

# Every word any rule here looks at; the text's words are intersected with it once.
_VOCABULARY = frozenset(
    word.encode()
    for words in (
        *(forms for table in (_CRITICAL_KEYWORDS, _COMPLEX_KEYWORDS, _SIMPLE_KEYWORDS)
          for forms in table.values()),
        _CODE_REQUEST_WORDS,
        _SEQUENCE_WORDS,
        ("first",),
        *(words.keys() for words in _TASK_WORDS.values()),
        *(gates for gates, _pattern in _CODE_SYNTAX),
        *(words for _needle, words in _PHRASE_NEEDLES.values()),
    )
    for word in words
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """What the classifiers need from a text; holds no text, only facts about it."""

    words: frozenset[str]  # the words of `_VOCABULARY` that occur
    phrases: frozenset[str]  # the phrases of `_PHRASES` that occur
    code_block: bool
    code_syntax: bool
    numbered_items: int
    questions: int


@functools.lru_cache(maxsize=4)
def _lexicon(text: str) -> _Lexicon:
    # Cached because the engine classifies complexity and task type of one text in turn.
    normalized = text.encode("utf-8", "surrogatepass").translate(_WORD_TABLE)
    words = frozenset(word.decode() for word in _VOCABULARY.intersection(normalized.split()))
    phrases: set[str] = set()
    padded = b""
    for phrase, (needle, needs) in _PHRASE_NEEDLES.items():
        if needs <= words:
            padded = padded or b" " + normalized + b" "
            if needle in padded:
                phrases.add(phrase)
    lines = "\n" + text  # so that a first line of code counts as a line start
    code_syntax = any(
        gates <= words and pattern.search(lines) is not None for gates, pattern in _CODE_SYNTAX
    )
    numbered = 0
    if "2." in text or "2)" in text:  # a list of steps has a second item
        numbered = len(_NUMBERED_ITEM.findall(text)) + (_NUMBERED_FIRST.match(text) is not None)
    return _Lexicon(
        words=words,
        phrases=frozenset(phrases),
        code_block="```" in text,
        code_syntax=code_syntax,
        numbered_items=numbered,
        questions=text.count("?"),
    )


# -- complexity -------------------------------------------------------------------------

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


# -- task type --------------------------------------------------------------------------


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
