"""LightEval custom task module: the French suite and its English counterparts.

Usable directly with LightEval, e.g.

    LUTH_PROFILE=gpu python -m luth_pipeline.core.eval.cli vllm "model_name=Qwen/Qwen3-0.6B" \
        "ifeval_fr|0,mmlu_fr|0" --custom-tasks luth_pipeline/core/eval/tasks.py

(`luth_pipeline.core.eval.cli` is LightEval's own CLI with the offline registry fix applied, which
also loads our tasks alone: the English ones carry upstream's names — `mmlu`, `hellaswag`,
`arc:challenge`, … — which LightEval 0.13's built-in registry also defines, with other prompts.) `TASKS_TABLE` is
built from the active profile (`LUTH_PROFILE`): real HF datasets in `gpu`, the fixture sets in
`local`.
"""

from __future__ import annotations

from lighteval.tasks.lighteval_task import LightevalTaskConfig

from luth_pipeline.core.eval.config import EvalConfig
from luth_pipeline.core.eval.datasets import dataset_location, task_catalogue
from luth_pipeline.core.eval.metrics import metrics_for
from luth_pipeline.core.eval.prompts import prompt_function


def build_task_configs(config: EvalConfig, names: list[str] | None = None) -> list[LightevalTaskConfig]:
    catalogue = task_catalogue(config)
    configs = []
    for name in names or list(catalogue):
        spec = catalogue[name]
        path, subset, revision = dataset_location(spec, config)
        # LightEval's vLLM model generates `max_new_tokens` for every generative task when it is set,
        # whatever the task's own size (`generation_parameters.max_new_tokens or generation_size`):
        # that is how upstream's scores were produced (8192, HellaSwag-fr's 1 included). Setting the
        # task size to the same value gives the transformers backend the same budget.
        generation_size = config.max_new_tokens if config.max_new_tokens is not None else spec.generation_size
        configs.append(
            LightevalTaskConfig(
                name=name,
                prompt_function=prompt_function(spec),
                hf_repo=path,
                hf_subset=subset,
                hf_revision=revision,
                hf_avail_splits=[spec.split],
                evaluation_splits=[spec.split],
                few_shots_split=None,
                few_shots_select=None,
                metrics=metrics_for(spec.kind, spec.language),
                generation_size=generation_size,
                stop_sequence=[],  # generation ends at the chat template's end-of-turn token
                version=1,
            )
        )
    return configs


def _active_config() -> EvalConfig:
    from luth_pipeline.core.config import load_profile

    return load_profile().eval


TASKS_TABLE = build_task_configs(_active_config())
