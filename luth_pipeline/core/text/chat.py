"""The chat row schema: its column type, its validation, and the text a filter reads.

Rows come from datasets we do not control (a null turn, a number for content, a `human` role, a
100 MB turn): `chat_problem` names what is wrong as a `ChatReject` so that the stage writes the row
to its rejects table with that reason, instead of one bad row crashing a whole partition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

ROLES = ("system", "user", "assistant")
MESSAGES_DTYPE = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
# The columns every chat table carries (row lineage: parent asset and row).
CHAT_COLUMNS = {"id": pl.String, "messages": MESSAGES_DTYPE, "source": pl.String, "source_id": pl.String,
                "parent_asset": pl.String, "parent_id": pl.String}
# A turn above this is not a conversation turn (a dumped file, a runaway generation).
MAX_TURN_CHARS = 200_000

Turns = Literal["all", "user", "assistant"]
_READ_ROLES = {"all": ("user", "assistant"), "user": ("user",), "assistant": ("assistant",)}


@dataclass(frozen=True)
class ChatReject:
    reason: str  # short, countable: `missing_content`, `unknown_role`, ...
    detail: str  # which turn and what was found

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def chat_problem(messages: Any, *, allow_empty: bool = False, max_turn_chars: int = MAX_TURN_CHARS,
                 required_roles: Sequence[str] = ("user", "assistant")) -> ChatReject | None:
    """Why `messages` is not a valid chat, or None. Never raises, whatever `messages` is.

    A valid chat is a non-empty list of `{role, content}` turns, each role one of `ROLES`, each
    content a string (non-blank unless `allow_empty`) of at most `max_turn_chars`, with at least one
    turn of each of `required_roles`.
    """
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        return ChatReject("missing_messages", f"messages is {type(messages).__name__}, expected a list of turns")
    if not messages:
        return ChatReject("no_turns", "messages is an empty list")
    for i, turn in enumerate(messages):
        if not isinstance(turn, Mapping):
            return ChatReject("bad_turn", f"turn {i} is {type(turn).__name__}, expected {{role, content}}")
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            return ChatReject("unknown_role", f"turn {i} has role {role!r:.40}, expected one of {ROLES}")
        if content is None:
            return ChatReject("missing_content", f"turn {i} ({role}) content is null")
        if not isinstance(content, str):
            return ChatReject("non_string_content", f"turn {i} ({role}) content is {type(content).__name__}, expected a string")
        if not allow_empty and not content.strip():
            return ChatReject("empty_turn", f"turn {i} ({role}) has no text")
        if len(content) > max_turn_chars:
            return ChatReject("giant_turn", f"turn {i} ({role}) has {len(content):,} chars > {max_turn_chars:,}")
    roles = [t["role"] for t in messages]
    missing = [r for r in required_roles if r not in roles]
    if missing:
        return ChatReject("missing_turn", f"roles {roles}: needs a {' and a '.join(missing)} turn")
    return None


def read_turns(messages: Any, turns: Turns = "all") -> list[tuple[int, str, str]]:
    """(index, role, content) of the turns language ID reads; system prompts are boilerplate, never read.

    Tolerant: turns that are not valid are skipped (validate first with `chat_problem` to reject them)."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        return []
    roles = _READ_ROLES[turns]
    return [(i, m["role"], m["content"]) for i, m in enumerate(messages)
            if isinstance(m, Mapping) and m.get("role") in roles and isinstance(m.get("content"), str)]


def conversation_text(messages: Any, turns: Turns = "all") -> str:
    """The turns language ID reads, one per line."""
    return "\n".join(content for _, _, content in read_turns(messages, turns))


def storable_messages(messages: Any) -> list[dict[str, str | None]] | None:
    """`messages` coerced to the `MESSAGES_DTYPE` column type, so that a rejected row can still be
    written to its rejects table showing what it held (non-string values as their `repr`)."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence):
        return None

    def as_text(value: Any) -> str | None:
        return value if value is None or isinstance(value, str) else repr(value)[:1000]

    return [{"role": as_text(t.get("role")), "content": as_text(t.get("content"))} if isinstance(t, Mapping)
            else {"role": None, "content": as_text(t)} for t in messages]
