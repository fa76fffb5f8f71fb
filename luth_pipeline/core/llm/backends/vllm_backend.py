"""vLLM offline batch generation (`vllm.LLM.chat`) on the GPU host's `.venv-serve`.

vLLM schedules a whole batch itself (continuous batching), so the client hands it `batch_size`
requests at a time and caches each batch as it completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from luth_pipeline.core.llm.backends.base import LLMBackend, text_only
from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.core.llm.errors import LLMSetupError
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse


def import_vllm():
    try:
        import vllm
    except ImportError as exc:
        raise LLMSetupError(
            "the `vllm` backend needs vLLM, which lives in its own environment: on a GPU host run "
            "`make .venv-serve` and run the stage from it (.venv-serve/bin/dagster …), "
            "or serve the model with `vllm serve` and use an `openai` endpoint instead"
        ) from exc
    return vllm


def sampling_params(vllm, request: LLMRequest, seed: int | None = None):
    kwargs = dict(temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens, seed=seed)
    if request.json_schema is not None:
        # vLLM ≥ 0.11 names it structured_outputs; older releases guided_decoding.
        params_module = vllm.sampling_params
        if hasattr(params_module, "StructuredOutputsParams"):
            kwargs["structured_outputs"] = params_module.StructuredOutputsParams(json=request.json_schema)
        else:
            kwargs["guided_decoding"] = params_module.GuidedDecodingParams(json=request.json_schema)
    return vllm.SamplingParams(**kwargs)


class VLLMBackend(LLMBackend):
    batched = True

    def __init__(self, name: str, endpoint: EndpointConfig, resolve_model: Callable[[str], str] | None = None):
        super().__init__(name, endpoint)
        self.vllm = import_vllm()
        self.resolve_model = resolve_model or (lambda model: model)
        self._engines: dict[str, object] = {}

    def _engine(self, model_id: str):
        if model_id not in self._engines:
            self._engines[model_id] = self.vllm.LLM(
                model=self.resolve_model(model_id), tensor_parallel_size=self.endpoint.tensor_parallel_size,
                gpu_memory_utilization=self.endpoint.gpu_memory_utilization, max_model_len=self.endpoint.max_model_len,
            )
        return self._engines[model_id]

    def generate(self, request: LLMRequest) -> LLMResponse:
        return self.generate_batch([request])[0]

    def generate_batch(self, requests: Sequence[LLMRequest]) -> list[LLMResponse]:
        results: list[LLMResponse | None] = [None] * len(requests)
        # `chat_template_kwargs` applies to a whole call: group by (model, enable_thinking).
        groups: dict[tuple[str, bool], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((request.model, request.enable_thinking), []).append(i)
        for (model_id, thinking), indices in groups.items():
            started = time.monotonic()
            outputs = self._engine(model_id).chat(
                [text_only(requests[i].messages) for i in indices],
                sampling_params=[sampling_params(self.vllm, requests[i], int(requests[i].cache_key()[:8], 16))
                                 for i in indices],
                chat_template_kwargs={"enable_thinking": thinking}, use_tqdm=False,
            )
            per_request = (time.monotonic() - started) / max(1, len(indices))
            for i, out in zip(indices, outputs, strict=True):
                completion = out.outputs[0]
                results[i] = LLMResponse(
                    text=completion.text, finish_reason=completion.finish_reason or "stop",
                    prompt_tokens=len(out.prompt_token_ids or []), completion_tokens=len(completion.token_ids),
                    latency_s=per_request,
                )
        return results  # type: ignore[return-value]
