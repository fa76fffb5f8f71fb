"""The request/response contract every LLM backend speaks.

A request is everything that determines the answer (model, messages, sampling parameters,
optional JSON schema): its `cache_key` content-addresses the response cache (together with the
endpoint's identity, see `cache.py`). `row_id` only labels logs and failure records and is
deliberately not part of the key.

A response carries a `status`: only `ok` is a usable answer. `truncated` (the model stopped at
`max_tokens`), `unparseable` (the text is not what the stage asked for: invalid JSON, a schema
violation, a verdict that is neither yes nor no), `incomplete` (stopped for another reason:
a content filter, an aborted generation) and `error` (no reply at all after the retries) are
failures with their reason, counted against `max_failure_rate`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# A message is {"role": ..., "content": str | list[part]}; a part is {"type": "text", "text": ...}
# or {"type": "image", "mime_type": "image/png", "data_b64": ...} (Gemini reads page images).
Message = dict[str, Any]

OK, TRUNCATED, UNPARSEABLE, INCOMPLETE, ERROR = "ok", "truncated", "unparseable", "incomplete", "error"
STATUSES = (OK, TRUNCATED, UNPARSEABLE, INCOMPLETE, ERROR)

# One encoder for every key (json.dumps with options builds a new one per call).
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


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
        key = self.__dict__.get("_cache_key")
        if key is None:
            # A flat list in field order, no `dataclasses.asdict` deep copy (a full-cache re-run
            # of 50k rows spent most of its time there); dict keys inside messages/schema sorted.
            blob = _KEY_ENCODER.encode([self.model, self.messages, self.temperature, self.top_p, self.max_tokens,
                                        self.enable_thinking, self.json_schema])
            key = hashlib.sha256(blob.encode("utf-8")).hexdigest()
            object.__setattr__(self, "_cache_key", key)  # computed once per (immutable) request
        return key


@dataclass
class LLMResponse:
    text: str
    finish_reason: str  # "stop", "length", …, or "error" when no reply came back
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    error: str | None = None  # "<reason>: <detail>" for every status but ok
    status: str = ""  # one of STATUSES; derived from `error`/`finish_reason` when left empty
    parsed: Any = None  # what the stage's parser made of `text` (ok responses of a parsed call)
    # A shipped fixture reply (FixtureResponseCache): final whatever its status. The local stand-in
    # model is not the endpoint that wrote it, so asking it again would be no retry, only a slow
    # CPU generation (minutes) producing noise.
    recorded: bool = False

    def __post_init__(self) -> None:
        if not self.status:
            self.status = (ERROR if self.error is not None else TRUNCATED if self.finish_reason == "length"
                           else OK if self.finish_reason == "stop" else INCOMPLETE)
        if self.status != OK and self.error is None:
            self.error = f"{self.status}: finish_reason={self.finish_reason}"

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def reason(self) -> str | None:
        """Short stable label of a failure (`truncated`, `rate_limited_429`, …); None when ok."""
        return None if self.ok else (self.error or self.status).split(":", 1)[0]
