"""Map one raw row to OpenAI-style `messages`; malformed rows raise `MalformedRow` with a reason."""

from __future__ import annotations

from typing import Any

from luth_pipeline.core.sources.config import SourceConfig

ROLES = ("system", "user", "assistant")


class MalformedRow(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def _text(value: Any, where: str) -> str:
    if value is None:
        raise MalformedRow("missing_content", f"{where} is null")
    if not isinstance(value, str):
        raise MalformedRow("non_string_content", f"{where} is {type(value).__name__}, expected a string")
    return value


def to_messages(cfg: SourceConfig, row: dict[str, Any]) -> list[dict[str, str]]:
    if cfg.format == "pair":
        return [
            {"role": "user", "content": _text(row.get(cfg.prompt_column), f"column {cfg.prompt_column!r}")},
            {"role": "assistant", "content": _text(row.get(cfg.response_column), f"column {cfg.response_column!r}")},
        ]
    turns = row.get(cfg.messages_column)
    if not isinstance(turns, list) or not turns:
        raise MalformedRow("missing_messages", f"column {cfg.messages_column!r} is {turns!r:.60}, expected a non-empty list")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise MalformedRow("bad_turn", f"turn {i} is {type(turn).__name__}, expected {{role, content}}")
        role = turn.get("role")
        if role not in ROLES:
            raise MalformedRow("bad_role", f"turn {i} has role {role!r}, expected one of {ROLES}")
        messages.append({"role": role, "content": _text(turn.get("content"), f"turn {i} content")})
    return messages
