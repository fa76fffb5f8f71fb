"""Base models: a Hugging Face id (gpu/prod) or a tiny model built offline (local)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from luth_pipeline.core.config.base import StrictModel


class TinyModelSpec(StrictModel):
    """A tiny Qwen3-architecture causal LM with a BPE tokenizer trained on fixture text."""

    architecture: Literal["qwen3"] = "qwen3"
    vocab_size: int = 2048
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    max_position_embeddings: int = 4096
    seed: int = 0
    # Globs (relative to the repo root) of JSONL/JSON files whose strings train the tokenizer.
    tokenizer_corpus: list[str] = ["luth_pipeline/demo_data/sources/*.jsonl"]


class BaseModelSpec(StrictModel):
    """One base model: exactly one of `hf_id` (downloaded / local path) or `build` (made offline)."""

    hf_id: str | None = None
    build: TinyModelSpec | None = None
    family: Literal["qwen3", "lfm2"] = "qwen3"
    revision: str | None = None
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "auto"

    @model_validator(mode="after")
    def _exactly_one_origin(self) -> "BaseModelSpec":
        if (self.hf_id is None) == (self.build is None):
            raise ValueError("set exactly one of `hf_id` or `build`")
        return self
