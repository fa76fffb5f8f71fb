"""Settings of the LLM layer: named endpoints (backend + connection + limits) and the cache.

A stage names an endpoint and a model (`StageLLMConfig`), so the `local` profile can answer
from the tiny transformers model while `gpu` points the same stage at `vllm serve` or Gemini.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from luth_pipeline.core.config.base import StrictModel

Backend = Literal["openai", "gemini", "vllm", "transformers"]


class EndpointConfig(StrictModel):
    backend: Backend
    # openai: the server's /v1 URL (`vllm serve` → http://host:8000/v1); gemini: an API base URL
    # override (tests, proxies); unset = the provider's default.
    base_url: str | None = None
    # Name of the environment variable holding the key (never the key itself). `vllm serve`
    # accepts any key: leave unset and "EMPTY" is sent.
    api_key_env: str | None = None
    timeout_s: float = Field(300.0, gt=0)
    max_concurrency: int = Field(32, ge=1)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_initial_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    # openai backend: send Qwen3's `enable_thinking` as vLLM's `chat_template_kwargs` (turn off
    # for servers that reject unknown fields, e.g. api.openai.com).
    send_chat_template_kwargs: bool = True
    # gemini backend: thinking budget in tokens (0 disables thinking on Flash models).
    thinking_budget: int | None = None
    # vllm offline backend
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = None
    batch_size: int = Field(512, ge=1)  # requests per `LLM.chat` call (each batch is cached)
    # transformers backend
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"


class ModelPrice(StrictModel):
    """USD per million tokens, for the cost estimate in metadata."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class ReplyPolicy(StrictModel):
    """What a stage does with a reply that came back unusable (a request that got no reply at all
    is retried by the endpoint's own `max_retries`). Each retry is a request of its own: a larger
    `max_tokens` is a new cache entry, so a re-run finds it."""

    # A reply cut at max_tokens is asked again with max_tokens × max_tokens_factor, this many times.
    truncated_retries: int = Field(1, ge=0)
    max_tokens_factor: float = Field(2.0, gt=1)
    max_tokens_cap: int | None = Field(None, ge=1)  # never ask for more (the model's context)
    # A reply the stage cannot read (invalid JSON, schema violation, no verdict) is asked again.
    unparseable_retries: int = Field(1, ge=0)


class StageLLMConfig(StrictModel):
    """Which endpoint and model a stage calls, with its sampling parameters."""

    endpoint: str
    model: str  # model id sent to the server, or a base_models name / path for transformers
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.8, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    enable_thinking: bool = False
    on_bad_reply: ReplyPolicy = ReplyPolicy()


class LLMConfig(StrictModel):
    # SQLite response cache, relative to the profile's work_dir.
    cache_dir: str = "llm_cache"
    # Read-only JSONL caches consulted before the SQLite cache (shipped fixture answers).
    fixture_caches: list[str] = []
    # A stage fails when more than this share of its requests still fail after retries.
    max_failure_rate: float = Field(0.05, ge=0, le=1)
    progress_every_s: float = Field(15.0, gt=0)
    endpoints: dict[str, EndpointConfig] = {}
    # Prices by model id; models without a price get no cost estimate (self-hosted vLLM).
    prices: dict[str, ModelPrice] = {}
