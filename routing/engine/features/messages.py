"""The text of chat messages, as the classifiers and the token estimate read it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


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
