"""The request/response contract every LLM backend speaks.

A request is everything that determines the answer (model, messages, sampling parameters,
optional JSON schema): its `cache_key` content-addresses the response cache. `row_id` only
labels logs and failure records and is deliberately not part of the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

# A message is {"role": ..., "content": str | list[part]}; a part is {"type": "text", "text": ...}
# or {"type": "image", "mime_type": "image/png", "data_b64": ...} (Gemini reads page images).
Message = dict[str, Any]


@dataclass(frozen=True)
class LLMRequest:
    model: str
    messages: tuple[Message, ...]
    temperature: float = 0.7
    top_p: float = 0.8
    max_tokens: int = 1024
    enable_thinking: bool = False
    json_schema: dict[str, Any] | None = None
    row_id: str | None = field(default=None, compare=False)

    def cache_key(self) -> str:
        payload = asdict(self)
        payload.pop("row_id")
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class LLMResponse:
    text: str
    finish_reason: str  # "stop", "length", or "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None  # set when every retry failed; `text` is then empty

    @property
    def ok(self) -> bool:
        return self.error is None
