"""Text normalisation: the clean form a stage stores, and the normal form dedup compares."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t\u00a0]+")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def clean_text(text: str) -> str:
    """NFC, `\\n` line ends, runs of spaces collapsed inside lines; newlines kept (markdown, code and
    LaTeX need them)."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_SPACES.sub(" ", line).rstrip() for line in text.split("\n")).strip()


def dedup_key(text: str, fold_accents: bool = False) -> str:
    """Case, Unicode form, punctuation and spacing removed (and accents, if asked): what makes two
    texts "the same" for deduplication."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if fold_accents:
        text = strip_accents(text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def shingles(normalized: str, size: int) -> set[str]:
    """Word `size`-grams of a normalized text (the whole text when it is shorter)."""
    words = normalized.split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
