"""Chat-format normalization: every Luth-SFT row becomes OpenAI-style `messages`.

Upstream tables arrive as `list<struct{role, content}>`, but producers (and HF datasets read
for other profiles) also use ShareGPT keys (`from`/`value`) and role names (`human`, `gpt`).
One canonical form makes exact dedup and the chat template behave the same for every source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from luth_pipeline.core.text.chat import chat_problem
from luth_pipeline.core.text.normalize import clean_text

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


class RejectedRow(ValueError):
    """A row that cannot become a training conversation; the message is its reject reason."""


def normalize_messages(messages: Any) -> list[dict[str, str]]:
    """Canonical messages, or `RejectedRow` naming what is wrong. Never another exception.

    Rules: roles mapped to system/user/assistant; text cleaned (core/text/normalize.py); no empty
    turn; the shared chat schema (core/text/chat.py: string content, no giant turn); an optional
    system turn first; then user and assistant alternate, starting with user and ending with
    assistant (a conversation that teaches nothing is rejected rather than trained on).
    """
    shape = chat_problem(messages, allow_empty=True, required_roles=())
    if shape is not None and shape.reason in ("missing_messages", "no_turns"):
        raise RejectedRow("normalize:no_messages")
    out: list[dict[str, str]] = []
    for i, turn in enumerate(messages):
        if not isinstance(turn, Mapping):
            raise RejectedRow(f"normalize:bad_turn:turn {i} is {type(turn).__name__}")
        role = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        canonical = ROLE_ALIASES.get(str(role).strip().lower()) if role is not None else None
        if canonical is None:
            raise RejectedRow(f"normalize:unknown_role:{role}")
        if not isinstance(content, str) or not clean_text(content):
            raise RejectedRow(f"normalize:empty_{canonical}_turn")
        out.append({"role": canonical, "content": clean_text(content)})
    problem = chat_problem(out, required_roles=())  # what is left of the shared schema: giant turns
    if problem is not None:
        raise RejectedRow(f"normalize:{problem.reason}:{problem.detail}")
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


def conversation_key(messages: list[dict[str, str]]) -> str:
    """What exact dedup compares: the normalized conversation, roles included."""
    return json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
