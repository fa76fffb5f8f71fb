"""Which text of a conversation the filters read, and its normalized form for deduplication."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

Turns = Literal["all", "user", "assistant"]
_ROLES = {"all": ("user", "assistant"), "user": ("user",), "assistant": ("assistant",)}
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def conversation_text(messages: Sequence[dict], turns: Turns = "all") -> str:
    """The turns language ID reads, one per line (system prompts are boilerplate: never read)."""
    roles = _ROLES[turns]
    return "\n".join(m["content"] for m in messages if m["role"] in roles)


def normalize(text: str) -> str:
    """Case, accents' Unicode form, punctuation and spacing removed: what makes two texts "the same"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def shingles(normalized: str, size: int) -> set[str]:
    words = normalized.split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
