"""Local generation with any Hugging Face causal LM (CPU in the `local` profile).

The model is loaded once per model id and kept; requests run one at a time (one in-process
model: concurrent calls would only contend for the same cores). Sampling is seeded from the
request's cache key, so the same request gives the same answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from luth_pipeline.core.llm.backends.base import LLMBackend, text_only
from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse


class TransformersBackend(LLMBackend):
    def __init__(self, name: str, endpoint: EndpointConfig, resolve_model: Callable[[str], str] | None = None):
        super().__init__(name, endpoint)
        self.resolve_model = resolve_model or (lambda model: model)
        self._loaded: dict[str, tuple] = {}
        self._lock = threading.Lock()

    @property
    def max_concurrency(self) -> int:
        return 1

    def _load(self, model_id: str):
        if model_id not in self._loaded:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = self.resolve_model(model_id)
            dtype = "auto" if self.endpoint.dtype == "auto" else getattr(torch, self.endpoint.dtype)
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.endpoint.device).eval()
            self._loaded[model_id] = (tokenizer, model)
        return self._loaded[model_id]

    def generate(self, request: LLMRequest) -> LLMResponse:
        import torch

        with self._lock:
            tokenizer, model = self._load(request.model)
            started = time.monotonic()
            inputs = tokenizer.apply_chat_template(
                text_only(request.messages), add_generation_prompt=True, enable_thinking=request.enable_thinking,
                return_tensors="pt", return_dict=True,
            ).to(model.device)
            prompt_len = inputs["input_ids"].shape[1]
            torch.manual_seed(int(request.cache_key()[:8], 16))
            sampling = request.temperature > 0
            with torch.inference_mode():
                output = model.generate(
                    **inputs, max_new_tokens=request.max_tokens, do_sample=sampling,
                    temperature=request.temperature if sampling else None, top_p=request.top_p if sampling else None,
                    pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
                )
            new_tokens = output[0, prompt_len:]
            hit_eos = tokenizer.eos_token_id is not None and bool((new_tokens == tokenizer.eos_token_id).any())
            text = tokenizer.decode(new_tokens, skip_special_tokens=True)
            finish = "length" if len(new_tokens) >= request.max_tokens and not hit_eos else "stop"
            return LLMResponse(text=text, finish_reason=finish, prompt_tokens=prompt_len,
                               completion_tokens=int(len(new_tokens)), latency_s=time.monotonic() - started)

    def close(self) -> None:
        self._loaded.clear()
