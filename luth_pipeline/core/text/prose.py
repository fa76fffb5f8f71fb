"""The natural-language part of a chat turn, and its segments.

Language ID must not read code, formulas, URLs or numbers: `Paris_(France)` in a URL reads as
French, `f(0), f(1)` as Danish. Code blocks are reduced to their comments and docstrings (a French
request answered with commented code is French); LaTeX, inline code, URLs, e-mail addresses,
numbers and emoji are removed. Long turns are split into paragraphs so that a French answer that
slips into English for one paragraph shows it, instead of averaging it away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[^\n`]*\n?(.*?)(?:```|\Z)", re.S)
_COMMENT_LINE = re.compile(r"^\s*(?:#(?![!]|include|define|pragma|if|endif|else)|//+/?|--|/\*+|\*(?!/)|;+|%+|<!--)\s?(.*)$")
_TRAILING_COMMENT = re.compile(r"\s(?:#|//)\s+(\S.*)$")  # `x = 1  # commentaire`
_BLOCK_COMMENT = re.compile(r"/\*(.*?)\*/|<!--(.*?)-->", re.S)
_DOCSTRING = re.compile(r"\"\"\"(.*?)\"\"\"|'''(.*?)'''", re.S)
_DISPLAY_MATH = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S)
_INLINE_MATH = re.compile(r"(?<!\\)\$[^$\n]+?(?<!\\)\$|\\\(.*?\\\)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_DOMAIN = re.compile(r"\b(?:[\w-]+\.)+(?:com|org|net|fr|io|gouv|edu)\b(?:/\S*)?")  # wikipedia.org/wiki/...
_TLD = re.compile(r"(?<=[\w-])\.(?:com|org|net|fr|io|gouv|edu)\b")  # cheap pre-check for _DOMAIN
_MATH_CALL = re.compile(r"\b[A-Za-z]'?\([^()\s]{0,12}\)")  # f(0), u'(x), P(A)
# Anything that is not a letter, an apostrophe, a hyphen, whitespace or sentence punctuation:
# digits, emoji, symbols, leftover LaTeX commands' backslashes and braces.
_NOT_PROSE = re.compile(r"[^\w\s'’\-.,;:!?«»\"()]|[\d_]")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_BLANK_LINES = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"\s+")


def code_comments(code: str) -> str:
    """Comments and docstrings of a code block: its only natural language."""
    found = [a or b for a, b in _DOCSTRING.findall(code)]
    found += [a or b for a, b in _BLOCK_COMMENT.findall(code)]
    code = _BLOCK_COMMENT.sub(" ", _DOCSTRING.sub(" ", code))
    for line in code.splitlines():
        match = _COMMENT_LINE.match(line) or _TRAILING_COMMENT.search(line)
        if match:
            found.append(match.group(1))
    return " ".join(_SPACES.sub(" ", c).strip(" */") for c in found if c.strip())


def _reduce_code(text: str) -> str:
    # Each block becomes its own paragraph holding only its comments.
    return _FENCE.sub(lambda m: "\n\n" + code_comments(m.group(1)) + "\n\n", text)


def _drop_links(text: str) -> str:
    # The e-mail and bare-domain patterns are the costly ones: run them only where they can match.
    text = _URL.sub(" ", text)
    if "@" in text:
        text = _EMAIL.sub(" ", text)
    return _DOMAIN.sub(" ", text) if _TLD.search(text) else text


def prose(text: str) -> str:
    """Natural-language part of one paragraph (no code, formulas, URLs, numbers or emoji), one line."""
    text = _drop_links(text)
    for pattern in (_DISPLAY_MATH, _INLINE_MATH, _INLINE_CODE, _MATH_CALL, _LATEX_COMMAND, _NOT_PROSE):
        text = pattern.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


_NON_LETTERS = re.compile(r"[\W\d_]+")


def letters(text: str) -> int:
    """How many letters `text` has (a regex pass: a per-character loop was the rule's main cost)."""
    return len(_NON_LETTERS.sub("", text))


@dataclass(frozen=True)
class Segment:
    turn: int  # index of the turn in `messages`
    role: str
    paragraph: int | None  # None: the whole turn
    text: str  # its prose


def turn_segments(turn: int, role: str, content: str, paragraph_chars: int) -> list[Segment]:
    """The turn as one segment, or, when its prose is longer than `paragraph_chars`, one per paragraph.

    Segments without any letter (a URL-only or emoji-only turn, bare code) are left out: they are
    no evidence of any language."""
    paragraphs = [prose(p) for p in _BLANK_LINES.split(_reduce_code(content))]
    paragraphs = [p for p in paragraphs if letters(p)]
    whole = " ".join(paragraphs)
    if not whole:
        return []
    if len(whole) <= paragraph_chars or len(paragraphs) == 1:
        return [Segment(turn, role, None, whole)]
    return [Segment(turn, role, i, p) for i, p in enumerate(paragraphs)]
