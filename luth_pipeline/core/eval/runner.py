"""Evaluate one checkpoint on the configured suites with LightEval: scores and per-sample details.

One model load per checkpoint; each (run, language) is one LightEval `Pipeline` over that
language's suite with its system prompt. Scores are averaged over `num_runs` runs; LightEval's
per-run standard error and the spread across runs are both kept.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from luth_pipeline.core.eval.config import EvalConfig
from luth_pipeline.core.eval.datasets import lighteval_task_spec, suite_tasks, task_catalogue, task_name

logger = logging.getLogger(__name__)

SCORES_SCHEMA = {
    "checkpoint": pl.String,
    "language": pl.String,
    "task": pl.String,
    "metric": pl.String,
    "headline": pl.Boolean,
    "score": pl.Float64,
    "stderr": pl.Float64,
    "run_std": pl.Float64,
    "num_runs": pl.Int64,
    "run_scores": pl.List(pl.Float64),
    "num_samples": pl.Int64,
    "reference": pl.String,
    "backend": pl.String,
    "model_path": pl.String,
}
DETAILS_SCHEMA = {
    "checkpoint": pl.String,
    "run": pl.Int64,
    "language": pl.String,
    "task": pl.String,
    "doc_index": pl.Int64,
    "query": pl.String,
    "prompt": pl.String,
    "gold": pl.String,
    "prediction": pl.String,
    "metrics": pl.String,
    "extracted": pl.String,
}


@dataclass
class EvalResult:
    scores: pl.DataFrame
    details: pl.DataFrame
    settings: dict[str, Any]
    seconds: float
    per_language_seconds: dict[str, float] = field(default_factory=dict)


def eval_settings(config: EvalConfig) -> dict[str, Any]:
    """What a reader needs to compare numbers: the settings every score was produced with."""
    return {
        "backend": config.backend,
        "data_source": config.data_source,
        "temperature": config.temperature,
        "use_chat_template": config.use_chat_template,
        "enable_thinking": config.enable_thinking,
        "system_prompts": dict(config.system_prompts),
        "num_runs": config.num_runs,
        "max_samples": config.max_samples,
        "max_new_tokens": config.max_new_tokens,
        "suites": {lang: entries for lang, entries in suite_tasks(config).items()},
    }


def task_module(config: EvalConfig, names: list[str]) -> types.ModuleType:
    """A LightEval custom-tasks module built from `config` (not from the active profile)."""
    from luth_pipeline.core.eval.tasks import build_task_configs

    module = types.ModuleType("luth_eval_tasks")
    module.TASKS_TABLE = build_task_configs(config, names)
    return module


def load_lighteval_model(model_path: str, config: EvalConfig, cache_dir: str):
    from lighteval.models.model_input import GenerationParameters
    from lighteval.models.model_loader import load_model

    generation = GenerationParameters(temperature=config.temperature, max_new_tokens=config.max_new_tokens)
    if config.backend == "vllm":
        try:
            from lighteval.models.vllm.vllm_model import VLLMModelConfig
            import vllm  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "eval.backend is `vllm` but vllm is not importable in this environment: run the eval worker "
                "with .venv-serve/bin/python (`make .venv-serve` on a GPU host) or set eval.backend: transformers"
            ) from exc
        model_config = VLLMModelConfig(
            model_name=model_path,
            dtype=config.dtype if config.dtype != "auto" else "bfloat16",
            gpu_memory_utilization=config.vllm.gpu_memory_utilization,
            max_model_length=config.vllm.max_model_length,
            tensor_parallel_size=config.vllm.tensor_parallel_size,
            enable_prefix_caching=config.vllm.enable_prefix_caching,
            generation_parameters=generation,
            cache_dir=cache_dir,
        )
        model = load_model(config=model_config)
        from luth_pipeline.core.eval.lighteval_compat import TokensPromptLLM

        model.model = TokensPromptLLM(model.model)
        return model
    from lighteval.models.transformers.transformers_model import TransformersModelConfig

    model_config = TransformersModelConfig(
        model_name=model_path,
        device=config.device,
        dtype=None if config.dtype == "auto" else config.dtype,
        batch_size=config.batch_size,
        generation_parameters=generation,
        cache_dir=cache_dir,
    )
    return load_model(config=model_config)


def _base_task(full_name: str) -> str:
    """LightEval names results `task|0` or `task:0` depending on the logger: drop the few-shot count."""
    return re.sub(r"[|:]\d+$", "", full_name)


def _stderr_key(metrics: dict[str, float], metric: str) -> float | None:
    value = metrics.get(f"{metric}_stderr")
    return float(value) if value is not None else None


def _prompt_text(doc, response, prompt_manager) -> str | None:
    """The exact model input: what the model reported, else LightEval's own rendering of the doc
    (chat template, system prompt, empty think block), as its transformers model does not keep it."""
    if response.input is not None:
        return response.input if isinstance(response.input, str) else json.dumps(response.input, ensure_ascii=False)
    return prompt_manager.prepare_prompt(doc) if prompt_manager is not None else None


def _detail_rows(checkpoint: str, run: int, language: str, details: dict, prompt_manager=None) -> list[dict]:
    rows = []
    for full_name, items in details.items():
        for index, detail in enumerate(items):
            doc, response = detail.doc, detail.model_response
            golds = doc.get_golds() if doc.choices else []
            specific = doc.specific or {}
            extracted = {k: specific[k] for k in ("extracted_predictions", "extracted_golds") if k in specific}
            if response.text:
                prediction = response.final_text[0]
            else:  # log-likelihood tasks: the choice the model scored highest
                best = max(range(len(response.logprobs)), key=response.logprobs.__getitem__) if response.logprobs else None
                prediction = doc.choices[best] if best is not None else ""
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "run": run,
                    "language": language,
                    "task": _base_task(full_name),
                    "doc_index": index,
                    "query": doc.query,
                    "prompt": _prompt_text(doc, response, prompt_manager),
                    "gold": " | ".join(str(g) for g in golds),
                    "prediction": prediction,
                    "metrics": json.dumps(detail.metric, default=float, ensure_ascii=False),
                    "extracted": json.dumps(extracted, ensure_ascii=False) if extracted else None,
                }
            )
    return rows


def evaluate_checkpoint(
    model_path: str,
    config: EvalConfig,
    checkpoint: str,
    *,
    model=None,
    progress: Callable[[str], None] = logger.info,
) -> EvalResult:
    """Run every suite of `config` on the model at `model_path` (or an already built LightEval
    `model`, e.g. a scripted one in tests)."""
    from luth_pipeline.core.eval.lighteval_compat import bootstrap_in_process, datasets_read_once, grad_mode_restored
    from luth_pipeline.core.threads import torch_threads

    with torch_threads(config.num_threads), grad_mode_restored(), bootstrap_in_process(), datasets_read_once():
        return _evaluate(model_path, config, checkpoint, model=model, progress=progress)


def _evaluate(model_path: str, config: EvalConfig, checkpoint: str, *, model, progress: Callable[[str], None]) -> EvalResult:
    from lighteval.logging.evaluation_tracker import EvaluationTracker
    from lighteval.pipeline import ParallelismManager, Pipeline, PipelineParameters

    from luth_pipeline.core.eval.lighteval_compat import set_chat_template_kwargs, task_registry_without_builtins
    from luth_pipeline.core.eval.metrics import HEADLINE_METRIC  # LightEval metrics: imported only to evaluate

    started = time.monotonic()
    suites = suite_tasks(config)
    catalogue = task_catalogue(config)
    names = sorted({task_name(e) for entries in suites.values() for e in entries})
    module = task_module(config, names)
    runs: dict[tuple[str, str, str], list[tuple[float, float | None]]] = {}
    counts: dict[str, int] = {}
    detail_rows: list[dict] = []
    per_language: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="luth-eval-") as scratch:
        owns_model = model is None
        if owns_model:
            progress(f"loading {model_path} with LightEval ({config.backend})")
            model = load_lighteval_model(model_path, config, cache_dir=str(Path(scratch) / "cache"))
        # LightEval frees the model after each pipeline; one checkpoint runs several pipelines.
        real_cleanup, model.cleanup = model.cleanup, lambda: None
        sample_cache = getattr(model, "_cache", None)
        try:
            for run in range(1, config.num_runs + 1):
                for language, entries in suites.items():
                    t0 = time.monotonic()
                    if hasattr(model, "prompt_manager"):
                        model.prompt_manager.system_prompt = config.system_prompts.get(language)
                        model.prompt_manager.use_chat_template = config.use_chat_template
                        set_chat_template_kwargs(model, enable_thinking=config.enable_thinking)
                    model._cache = sample_cache  # the Pipeline registers its tasks with it
                    with task_registry_without_builtins():
                        pipeline = Pipeline(
                            tasks=",".join(lighteval_task_spec(e) for e in entries),
                            pipeline_parameters=PipelineParameters(
                                launcher_type=ParallelismManager.NONE,
                                custom_tasks_directory=module,
                                max_samples=config.max_samples,
                                bootstrap_iters=config.bootstrap_iters,
                            ),
                            evaluation_tracker=EvaluationTracker(output_dir=scratch, save_details=False),
                            model=model,
                        )
                    # No sample cache: a re-evaluated checkpoint path may hold new weights, and each
                    # run must really run.
                    model._cache = None
                    pipeline.evaluate()
                    results = pipeline.get_results()["results"]
                    for full_name, metrics in results.items():
                        if full_name == "all":
                            continue
                        for metric, value in metrics.items():
                            if metric.endswith("_stderr"):
                                continue
                            key = (language, _base_task(full_name), metric)
                            runs.setdefault(key, []).append((float(value), _stderr_key(metrics, metric)))
                    rows = _detail_rows(checkpoint, run, language, pipeline.get_details(), getattr(model, "prompt_manager", None))
                    for row in rows:
                        counts[row["task"]] = counts.get(row["task"], 0) + (1 if run == 1 else 0)
                    detail_rows.extend(rows)
                    per_language[language] = per_language.get(language, 0.0) + time.monotonic() - t0
                    progress(f"run {run}/{config.num_runs} {language}: {len(entries)} tasks in {time.monotonic() - t0:.1f}s")
        finally:
            model.cleanup = real_cleanup
            if owns_model:
                real_cleanup()
    score_rows = []
    for (language, task, metric), values in sorted(runs.items()):
        scores = [v for v, _ in values]
        stderrs = [s for _, s in values if s is not None]
        spec = catalogue[task]
        score_rows.append(
            {
                "checkpoint": checkpoint,
                "language": language,
                "task": task,
                "metric": metric,
                "headline": HEADLINE_METRIC[spec.kind] == metric,
                "score": statistics.fmean(scores),
                "stderr": statistics.fmean(stderrs) if stderrs else None,
                "run_std": statistics.pstdev(scores) if len(scores) > 1 else 0.0,
                "num_runs": len(scores),
                "run_scores": scores,
                "num_samples": counts.get(task, 0),
                "reference": spec.reference,
                "backend": config.backend,
                "model_path": model_path,
            }
        )
    return EvalResult(
        scores=pl.DataFrame(score_rows, schema=SCORES_SCHEMA),
        details=pl.DataFrame(detail_rows, schema=DETAILS_SCHEMA),
        settings=eval_settings(config),
        seconds=time.monotonic() - started,
        per_language_seconds=per_language,
    )
