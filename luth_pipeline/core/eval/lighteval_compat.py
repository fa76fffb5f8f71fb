"""Making LightEval 0.13 run offline, with thinking off, and with a current vLLM — without editing
its installed files (a fresh machine would not have the edit).

1. Offline registry. `Registry.load_all_task_configs` imports every built-in task module; one of
   them (tiny_benchmarks) downloads a pickle at import time, so any LightEval run fails without
   network, and the imports cost ~7 s. Our suites only use our own task module, so while
   `task_registry_without_builtins()` is active the registry loads the custom tasks alone.
2. Thinking off. LightEval's PromptManager calls `tokenizer.apply_chat_template` without
   `enable_thinking` (upstream patched its source for that); we hand it a tokenizer view whose
   chat template always receives our template kwargs.
3. Autograd back on. LightEval's transformers model calls `torch.set_grad_enabled(False)` at import
   and in its constructor, process-wide: a process that trains after evaluating (an in-process
   Dagster executor, `luth demo`, a test worker) would silently get loss tensors without
   gradients. `grad_mode_restored()` puts the caller's mode back.
4. Bootstrap in process. LightEval bootstraps corpus-metric stderrs with a fresh
   `multiprocessing.Pool` (fork) per metric. Forking a process that already runs threads (torch,
   Dagster's log/interrupt threads) can deadlock a child on a lock held at fork time (seen:
   `luth demo` hung in the 6th checkpoint's evaluation), and the children inherit Dagster's
   interrupt handler. `bootstrap_in_process()` draws the same samples with the same seed and
   computes the metric in the caller's process.
5. vLLM >= 0.11 removed `LLM.generate(prompt_token_ids=...)`, which LightEval's VLLMModel still
   calls; `TokensPromptLLM` accepts that call and forwards `TokensPrompt`s (upstream's
   patch_vllm_api did the same by rewriting LightEval's source).
6. Datasets read once per process. Every `Pipeline` calls `datasets.load_dataset` again for each
   of its tasks (resolving the folder's data files by globbing ~65 patterns each: ~0.3 s CPU per
   checkpoint for the 12 fixture sets), though a process evaluating several checkpoints (the demo,
   a test session, `num_runs` > 1) reads the same sets each time. `datasets_read_once()` keeps what
   LightEval's own loader returned, keyed by path, subset, revision and filter, and for a local
   folder by its files' sizes and modification times (an edited fixture is read again).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from lighteval.tasks.registry import Registry


def _custom_tasks_only(custom_tasks: str | Path | ModuleType | None = None, load_multilingual: bool = False):
    if custom_tasks is None:
        raise ValueError(
            "the LightEval registry runs without built-in tasks here (they download files at import); "
            "pass custom_tasks=luth_pipeline.core.eval.tasks"
        )
    module = Registry.create_custom_tasks_module(custom_tasks)
    return Registry._extract_configs(module)


@contextlib.contextmanager
def task_registry_without_builtins() -> Iterator[None]:
    original = Registry.__dict__["load_all_task_configs"]
    Registry.load_all_task_configs = staticmethod(_custom_tasks_only)
    try:
        yield
    finally:
        Registry.load_all_task_configs = original


@contextlib.contextmanager
def grad_mode_restored() -> Iterator[None]:
    import torch

    enabled = torch.is_grad_enabled()
    try:
        yield
    finally:
        torch.set_grad_enabled(enabled)


def _bootstrap_sequential(self, cur_experiment):
    """`_bootstrap_internal.__call__` without the process pool: same draws, same metric."""
    import random

    population, seed = cur_experiment
    rnd = random.Random()
    rnd.seed(seed)
    return [self.metric(rnd.choices(population, k=len(population))) for _ in range(self.number_draws)]


@contextlib.contextmanager
def bootstrap_in_process() -> Iterator[None]:
    from lighteval.metrics.utils import stderr

    original = stderr._bootstrap_internal.__call__
    stderr._bootstrap_internal.__call__ = _bootstrap_sequential
    try:
        yield
    finally:
        stderr._bootstrap_internal.__call__ = original


_read_datasets: dict[tuple, Any] = {}


def _folder_fingerprint(path: str) -> tuple | None:
    """Sizes and modification times of a local dataset folder's files (None for a hub id)."""
    if not os.path.isdir(path):
        return None
    return tuple(
        sorted(
            (os.path.relpath(os.path.join(root, name), path), stat.st_size, stat.st_mtime_ns)
            for root, _, names in os.walk(path)
            for name in names
            for stat in [os.stat(os.path.join(root, name))]
        )
    )


@contextlib.contextmanager
def datasets_read_once() -> Iterator[None]:
    from lighteval.tasks.lighteval_task import LightevalTask

    original = LightevalTask.__dict__["download_dataset_worker"]
    load = original.__func__

    def download_once(task):
        key = (task.dataset_path, task.dataset_config_name, task.dataset_revision, task.dataset_filter,
               _folder_fingerprint(task.dataset_path))
        if key not in _read_datasets:
            _read_datasets[key] = load(task)
        return _read_datasets[key]

    LightevalTask.download_dataset_worker = staticmethod(download_once)
    try:
        yield
    finally:
        LightevalTask.download_dataset_worker = original


class ChatTemplateKwargs:
    """A tokenizer whose `apply_chat_template` always gets extra kwargs (e.g. enable_thinking=False)."""

    def __init__(self, tokenizer: Any, **template_kwargs: Any):
        self._tokenizer = tokenizer
        self._template_kwargs = template_kwargs

    def apply_chat_template(self, *args: Any, **kwargs: Any):
        return self._tokenizer.apply_chat_template(*args, **{**self._template_kwargs, **kwargs})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def set_chat_template_kwargs(model: Any, **template_kwargs: Any) -> None:
    manager = model.prompt_manager
    tokenizer = manager.tokenizer
    if isinstance(tokenizer, ChatTemplateKwargs):
        tokenizer = tokenizer._tokenizer
    manager.tokenizer = ChatTemplateKwargs(tokenizer, **template_kwargs)


class TokensPromptLLM:
    """Wraps a `vllm.LLM` so LightEval's `generate(prompt_token_ids=...)` call works on vLLM >= 0.11."""

    def __init__(self, llm: Any):
        self._llm = llm

    def generate(self, prompts=None, sampling_params=None, use_tqdm=True, prompt_token_ids=None, **kwargs):
        if prompt_token_ids is not None:
            from vllm.inputs import TokensPrompt

            prompts = [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompt_token_ids]
        return self._llm.generate(prompts, sampling_params=sampling_params, use_tqdm=use_tqdm, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)
