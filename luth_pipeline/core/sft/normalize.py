"""Chat-format normalization: every Luth-SFT row becomes OpenAI-style `messages`.

Upstream tables arrive as `list<struct{role, content}>`, but producers (and HF datasets read
for other profiles) also use ShareGPT keys (`from`/`value`) and role names (`human`, `gpt`).
One canonical form makes exact dedup and the chat template behave the same for every source.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping

ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
}

_SPACES = re.compile(r"[ \t\u00a0]+")


class RejectedRow(ValueError):
    """A row that cannot become a training conversation; the message is its reject reason."""


def _clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    # Collapse runs of spaces inside lines but keep newlines (markdown, code, LaTeX need them).
    lines = [_SPACES.sub(" ", line).rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip()


def normalize_messages(messages: Iterable[Mapping] | None) -> list[dict[str, str]]:
    """Canonical messages, or `RejectedRow` naming what is wrong.

    Rules: roles mapped to system/user/assistant; text NFC with normalized line ends and
    spaces; no empty turn; an optional system turn first; then user and assistant alternate,
    starting with user and ending with assistant (a conversation that teaches nothing is
    rejected rather than trained on).
    """
    if messages is None:
        raise RejectedRow("normalize:no_messages")
    out: list[dict[str, str]] = []
    for turn in messages:
        role = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        canonical = ROLE_ALIASES.get(str(role).strip().lower()) if role is not None else None
        if canonical is None:
            raise RejectedRow(f"normalize:unknown_role:{role}")
        if not isinstance(content, str) or not _clean_text(content):
            raise RejectedRow(f"normalize:empty_{canonical}_turn")
        out.append({"role": canonical, "content": _clean_text(content)})
    body = out[1:] if out and out[0]["role"] == "system" else out
    if not body:
        raise RejectedRow("normalize:no_messages")
    for position, turn in enumerate(body):
        expected = "user" if position % 2 == 0 else "assistant"
        if turn["role"] != expected:
            raise RejectedRow(f"normalize:turn_{position}_is_{turn['role']}_expected_{expected}")
    if body[-1]["role"] != "assistant":
        raise RejectedRow("normalize:no_final_assistant_turn")
    return out


def content_hash(messages: list[dict[str, str]]) -> str:
    """Key of exact dedup: the normalized conversation, roles included."""
    payload = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
