"""Map one raw row to OpenAI-style `messages`; malformed rows raise `MalformedRow` with a reason.

The chat schema and its reasons are the shared ones (core/text/chat.py); empty turns pass here and
are rejected by the filters downstream, which count them.
"""

from __future__ import annotations

from typing import Any

from luth_pipeline.core.sources.config import SourceConfig
from luth_pipeline.core.text.chat import ROLES, chat_problem

__all__ = ["ROLES", "MalformedRow", "to_messages"]


class MalformedRow(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def to_messages(cfg: SourceConfig, row: dict[str, Any]) -> list[dict[str, str]]:
    if cfg.format == "pair":
        where = f"columns {cfg.prompt_column!r}/{cfg.response_column!r}"
        messages = [{"role": "user", "content": row.get(cfg.prompt_column)},
                    {"role": "assistant", "content": row.get(cfg.response_column)}]
    else:
        where = f"column {cfg.messages_column!r}"
        messages = row.get(cfg.messages_column)
    problem = chat_problem(messages, allow_empty=True, required_roles=())
    if problem:
        raise MalformedRow(problem.reason, f"{where}: {problem.detail}")
    return [{"role": turn["role"], "content": turn["content"]} for turn in messages]
