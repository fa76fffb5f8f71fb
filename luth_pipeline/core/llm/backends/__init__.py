"""LLM backends behind one interface (`LLMBackend`); `make_backend` picks one by name.

Each backend module imports its SDK lazily so the `vllm` backend can live in `.venv-serve`
without the orchestrator environment needing it.
"""

from __future__ import annotations

from collections.abc import Callable

from luth_pipeline.core.llm.backends.base import LLMBackend
from luth_pipeline.core.llm.config import EndpointConfig


def make_backend(name: str, endpoint: EndpointConfig, api_key: str | None = None,
                 resolve_model: Callable[[str], str] | None = None) -> LLMBackend:
    if endpoint.backend == "openai":
        from luth_pipeline.core.llm.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(name, endpoint, api_key)
    if endpoint.backend == "gemini":
        from luth_pipeline.core.llm.backends.gemini_backend import GeminiBackend

        return GeminiBackend(name, endpoint, api_key)
    if endpoint.backend == "vllm":
        from luth_pipeline.core.llm.backends.vllm_backend import VLLMBackend

        return VLLMBackend(name, endpoint, resolve_model)
    if endpoint.backend == "transformers":
        from luth_pipeline.core.llm.backends.transformers_backend import TransformersBackend

        return TransformersBackend(name, endpoint, resolve_model)
    raise ValueError(f"endpoint {name!r}: unknown backend {endpoint.backend!r}")


__all__ = ["LLMBackend", "make_backend"]
