"""The interface every backend implements, plus message helpers shared by several of them."""

from __future__ import annotations

from collections.abc import Sequence

from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse, Message


class LLMBackend:
    """`generate` answers one request (API backends, called from worker threads), or
    `generate_batch` answers many at once (offline engines). Both raise `LLMError` subclasses."""

    batched = False

    def __init__(self, name: str, endpoint: EndpointConfig):
        self.name = name
        self.endpoint = endpoint

    @property
    def max_concurrency(self) -> int:
        return self.endpoint.max_concurrency

    def generate(self, request: LLMRequest) -> LLMResponse:
        raise NotImplementedError

    def generate_batch(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        return [self.generate(r) for r in requests]

    def close(self) -> None:
        pass


def text_of(content) -> str:
    """Plain text of a message content (a string or a list of parts; images are dropped)."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type", "text") == "text")


def text_only(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m["role"], "content": text_of(m["content"])} for m in messages]
