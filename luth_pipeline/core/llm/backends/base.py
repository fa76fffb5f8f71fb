"""The interface every backend implements, plus message helpers shared by several of them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse, Message


class LLMBackend:
    """`generate` answers one request (API backends, called from worker threads), or
    `generate_batch` answers many at once (offline engines). Both raise `LLMError` subclasses."""

    batched = False
    # True when the backend's HTTP client calls `before_send` right before a request goes out:
    # the rate limit is then taken there, not when a worker picks the request up (an SDK's
    # first call spends a while before sending; slots taken earlier would all fire at once).
    sends_through_gate = False

    def __init__(self, name: str, endpoint: EndpointConfig):
        self.name = name
        self.endpoint = endpoint
        self._gate = threading.local()

    def call(self, request: LLMRequest, acquire: Callable[[], float]) -> tuple[LLMResponse, float]:
        """`generate` with the rate limit (`acquire`, returning the seconds it waited) taken as
        late as this backend can. Returns the response and the wait."""
        if not self.sends_through_gate:
            waited = acquire()
            return self.generate(request), waited
        self._gate.acquire, self._gate.waited = acquire, 0.0
        try:
            return self.generate(request), self._gate.waited
        finally:
            self._gate.acquire = None

    def before_send(self, *_http_request) -> None:
        """httpx `request` event hook: runs in the sending thread, once per `call`."""
        acquire = getattr(self._gate, "acquire", None)
        if acquire is not None:
            self._gate.acquire = None
            self._gate.waited += acquire()

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
