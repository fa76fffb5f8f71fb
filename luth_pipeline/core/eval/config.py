"""Settings of the `eval` stage: which suites run, on which data, with which generation settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from luth_pipeline.core.config.base import StrictModel


class VLLMSettings(StrictModel):
    """Passed to LightEval's VLLMModelConfig on GPU hosts (upstream configs/eval/eval_config.yaml)."""

    gpu_memory_utilization: float = 0.9
    max_model_length: int = 16384
    tensor_parallel_size: int = 1
    enable_prefix_caching: bool = False  # upstream turns it off (LFM2 needs it off)


class EvalConfig(StrictModel):
    # The task catalogue (data location, prompt family, text fields) and the suites to run.
    tasks_file: str = "configs/eval/tasks.yaml"
    suites: dict[str, str] = Field(
        default_factory=lambda: {"fr": "configs/eval/tasks_fr.txt", "en": "configs/eval/tasks_en.txt"}
    )
    # `hub`: each task's real HF dataset; `fixtures`: the folder in that dataset's schema shipped in the repo.
    data_source: Literal["hub", "fixtures"] = "hub"
    # `transformers` (CPU/GPU, LightEval's TransformersModel) or `vllm` (GPU, in .venv-serve).
    backend: Literal["transformers", "vllm"] = "transformers"
    # Interpreter of the environment that runs LightEval, reached through Dagster Pipes; null runs it
    # inside the orchestrator process (CPU, transformers: no second interpreter start per checkpoint).
    python: str | None = ".venv/bin/python"
    device: str = "cpu"
    dtype: str = "auto"
    batch_size: int | None = None
    # torch intra-op threads while evaluating in this process (None: torch's default, one per core).
    # 1 for a tiny model on CPU: its matmuls are too small to split, and with 2 threads on shared
    # cores one checkpoint cost 7x the CPU (benchmarks/eval_speed.py).
    num_threads: int | None = None
    # Cap on items per task (None: the whole set) and on generated tokens (None: each task's own size).
    max_samples: int | None = None
    max_new_tokens: int | None = None
    # Upstream settings: greedy decoding, chat template on, thinking off, one system prompt per language.
    temperature: float = 0.0
    use_chat_template: bool = True
    enable_thinking: bool = False
    system_prompts: dict[str, str] = Field(
        default_factory=lambda: {"fr": "Vous êtes un assistant utile.", "en": "You are a helpful assistant."}
    )
    # Each run is a full LightEval pass; scores are averaged over runs (upstream: 3).
    num_runs: int = Field(default=1, ge=1)
    bootstrap_iters: int = Field(default=100, ge=0)
    vllm: VLLMSettings = VLLMSettings()
    reference_scores: str = "configs/eval/reference_scores.yaml"
    # Re-evaluation of every checkpoint (Dagster cron syntax; weekly, Monday 03:00 by default).
    schedule_cron: str = "0 3 * * 1"
    schedule_timezone: str = "UTC"
