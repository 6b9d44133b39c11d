"""What the classifiers read from a text, in one pass: which words of the vocabulary and
which phrases occur, whether it holds code, how many numbered items and questions.

The text is lowercased as UTF-8 bytes with one `bytes.translate` (see the package
docstring for why), split once and intersected with every word any rule looks at.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from routing.engine.features.vocabulary import (
    _CODE_REQUEST_WORDS,
    _COMPLEX_KEYWORDS,
    _CRITICAL_KEYWORDS,
    _MULTI_STEP_PHRASES,
    _SEQUENCE_WORDS,
    _SIMPLE_KEYWORDS,
    _SIMPLE_PHRASES,
    _TASK_PHRASES,
    _TASK_WORDS,
)

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
