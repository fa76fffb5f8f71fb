"""Run a validated merge (engine `stream` or mergekit's `run_merge`) and write the checkpoint atomically."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luth_pipeline.core.merge.checkpoint_files import carry_over_tokenizer, parameter_checksum
from luth_pipeline.core.merge.config import MergeConfig
from luth_pipeline.core.merge.preflight import MergePlan, prepare_merge
from luth_pipeline.core.merge.recipes import MergeRecipe
from luth_pipeline.core.storage import atomic_directory
from luth_pipeline.core.threads import torch_threads

PLAN_FILE = "merge_plan.json"
logger = logging.getLogger(__name__)


@dataclass
class MergeResult:
    path: Path
    plan: MergePlan
    merge_seconds: float  # the engine's run: read, merge, write
    total_seconds: float  # + tokenizer, checksum, load check
    checksum: str
    num_parameters: int
    device: str
    engine: str
    # How many tensors each code path merged (engine `stream`: fast SLERP vs mergekit's kernel).
    engine_counts: dict[str, int]

    def summary(self) -> dict[str, Any]:
        return {
            "recipe": self.plan.recipe.name,
            "method": self.plan.method,
            "path": str(self.path),
            "merge_seconds": round(self.merge_seconds, 3),
            "checksum": self.checksum,
            "num_parameters": self.num_parameters,
            "device": self.device,
            "engine": self.engine,
        }


def verify_loads(folder: Path) -> None:
    """The merged folder opens with AutoModelForCausalLM + AutoTokenizer and gives finite logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if not tokenizer.chat_template:
        raise RuntimeError(f"merged checkpoint {folder} has no chat template")
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype="auto")
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Bonjour"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    if not torch.isfinite(logits).all():
        raise RuntimeError(f"merged checkpoint {folder} produces non-finite logits")


def write_merged_card(folder: Path, plan: MergePlan, recipe: MergeRecipe, parents: dict, results: dict) -> None:
    """Our model card replaces mergekit's auto card: parents by hub id, recipe, the exact mergekit
    YAML, the training data of the fine-tuned parent."""
    from luth_pipeline.core.train.model_card import merged_model_card

    finetuned_readme = Path(plan.finetuned) / "README.md"
    card = merged_model_card(
        name=f"Luth {str(parents.get('base', {}).get('checkpoint', 'model')).split('.')[0]} merged ({recipe.name})",
        method=plan.method,
        recipe=recipe.name,
        params=dict(recipe.params),
        mergekit_yaml=plan.yaml_text,
        parents=parents,
        finetuned_card=finetuned_readme.read_text(encoding="utf-8") if finetuned_readme.is_file() else None,
        results=results,
    )
    (folder / "README.md").write_text(card.render(), encoding="utf-8")


def run_engine(config: MergeConfig, plan: MergePlan, out_dir: Path) -> dict[str, int]:
    """Execute a validated plan into `out_dir` with the configured engine; per-path tensor counts."""
    # mergekit's planner mutates the configuration it is given (models → slices).
    merge_config = plan.merge_config.model_copy(deep=True)
    with torch_threads(config.num_threads):
        if config.engine == "stream":
            from luth_pipeline.core.merge.stream import run_stream_merge

            return run_stream_merge(merge_config, str(out_dir), plan.options, config_source=plan.yaml_text)
        from mergekit.merge import run_merge

        run_merge(merge_config, str(out_dir), plan.options, config_source=plan.yaml_text)
        return {"mergekit_run_merge": len(plan.tensor_parameters)}


def merge_checkpoints(
    recipe: MergeRecipe,
    config: MergeConfig,
    *,
    base: Path,
    finetuned: Path,
    out_dir: Path,
    lineage: dict[str, Any] | None = None,
    progress: Callable[[str], None] = logger.info,
) -> MergeResult:
    """Merge `finetuned` with `base` per `recipe` into `out_dir` (replaced only on success).

    Every recipe/compatibility problem raises before anything is written; a failure during the
    merge leaves `out_dir` as it was.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    plan = prepare_merge(recipe, config, base=base, finetuned=finetuned, out_dir=out_dir)
    progress(f"merge {recipe.name}: {plan.method} of {finetuned} with base {base} on {plan.options.device} (engine {config.engine})")
    with atomic_directory(out_dir) as tmp:
        t0 = time.perf_counter()
        engine_counts = run_engine(config, plan, tmp)
        merge_seconds = time.perf_counter() - t0
        carry_over_tokenizer(plan.finetuned, tmp)
        checksum, num_parameters = parameter_checksum(tmp)
        write_merged_card(tmp, plan, recipe, lineage or {"base": {"path": str(base)}, "finetuned": {"path": str(finetuned)}},
                          {"parameter_checksum": checksum, "num_parameters": num_parameters, "merge_seconds": round(merge_seconds, 3)})
        (tmp / PLAN_FILE).write_text(
            json.dumps(
                {
                    "recipe": recipe.model_dump(),
                    "method": plan.method,
                    "parents": lineage or {"base": str(base), "finetuned": str(finetuned)},
                    "parameter_checksum": checksum,
                    "num_parameters": num_parameters,
                    "merge_seconds": merge_seconds,
                    "engine": config.engine,
                    "engine_counts": engine_counts,
                    "tensor_parameters": plan.tensor_parameters,
                },
                indent=1,
                default=str,
            ),
            encoding="utf-8",
        )
        if config.verify_load:
            verify_loads(tmp)
    return MergeResult(
        path=out_dir,
        plan=plan,
        merge_seconds=merge_seconds,
        total_seconds=time.perf_counter() - started,
        checksum=checksum,
        num_parameters=num_parameters,
        device=str(plan.options.device),
        engine=config.engine,
        engine_counts=engine_counts,
    )
