"""Token estimates: a prompt's size in tokens, counted from its UTF-8 bytes.

Each byte gets a weight class through one `bytes.translate` (a fast C loop whatever the
text contains), and the classes are counted. Pure: no Django, no settings, no clock.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

# The estimate is the default, and the only counter used: it is the same on every
# machine (a tokenizer's vocabulary can differ between versions, and none can be
# downloaded here), so a replayed decision sees the same count. It errs high on code.
TOKEN_COUNTER = "estimate:chars"  # noqa: S105 - the name of a method, not a secret


def token_counter_name() -> str:
    """How `estimate_tokens` counts, recorded beside each count it produces."""
    return TOKEN_COUNTER


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
