"""Everything that can be wrong with a merge, found before a single file is written.

Order: the recipe renders → mergekit's `MergeConfiguration` parses it → the merge method
exists → the two checkpoints share architecture, tensor shapes and vocabulary → mergekit's
own planner resolves every tensor's parameters (filters, per-layer gradients), the configured
engine can execute that plan, and the resolved values are checked (linear weights sum to 1,
SLERP t within [0, 1]).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from luth_pipeline.core.merge.checkpoint_files import read_config, tensor_shapes
from luth_pipeline.core.merge.config import MergeConfig
from luth_pipeline.core.merge.recipes import MergeRecipe, RecipeError, render_recipe

# Config keys that must agree for two checkpoints to be one architecture at one size.
_ARCHITECTURE_KEYS = (
    "model_type", "architectures", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "tie_word_embeddings",
)
_SUM_TOLERANCE = 1e-6


@dataclass
class MergePlan:
    """A validated merge: the YAML mergekit runs and what it will do to every tensor."""

    recipe: MergeRecipe
    yaml_text: str
    merge_config: Any  # mergekit.config.MergeConfiguration
    options: Any  # mergekit.options.MergeOptions
    base: Path
    finetuned: Path
    num_layers: int
    # tensor name → resolved merge parameters, e.g. {"t": 0.7} or {"weight": {"base": 0.3, "finetuned": 0.7}}
    tensor_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.merge_config.merge_method

    def layer_schedule(self) -> dict[str, list[float]]:
        """Per layer, the fine-tuned share of attention and MLP weights (mean over their tensors)."""
        groups: dict[str, dict[int, list[float]]] = {"self_attn": defaultdict(list), "mlp": defaultdict(list)}
        for name, params in self.tensor_parameters.items():
            share = finetuned_share(params)
            parts = name.split(".")
            if share is None or "layers" not in parts:
                continue
            layer = int(parts[parts.index("layers") + 1])
            for group in groups:
                if f".{group}." in name:
                    groups[group][layer].append(share)
        return {g: [sum(v[i]) / len(v[i]) for i in sorted(v)] for g, v in groups.items() if v}


def finetuned_share(params: dict[str, Any]) -> float | None:
    """The fine-tuned model's share in one tensor's parameters (SLERP t or linear weight)."""
    if "t" in params:
        return float(params["t"])
    if "weight" in params:
        return float(params["weight"]["finetuned"])
    return None


def merge_options(config: MergeConfig):
    from mergekit.common import parse_kmb
    from mergekit.options import MergeOptions

    return MergeOptions(
        device=config.device,
        low_cpu_memory=config.low_cpu_memory,
        read_to_gpu=config.read_to_gpu,
        lazy_unpickle=config.lazy_unpickle,
        out_shard_size=parse_kmb(config.out_shard_size),
        num_threads=config.num_threads,
        async_write=config.async_write,
        # Tokenizer and chat template come from the fine-tuned checkpoint (carry_over_tokenizer).
        copy_tokenizer=False,
        write_model_card=True,
        safe_serialization=True,
        quiet=False,
    )


def parse_merge_yaml(recipe_name: str, yaml_text: str):
    """mergekit's own schema over the rendered YAML, then the method registry."""
    from mergekit.config import MergeConfiguration
    from mergekit.merge_methods import registry

    try:
        merge_config = MergeConfiguration.model_validate(yaml.safe_load(yaml_text))
    except (yaml.YAMLError, ValidationError, RuntimeError) as exc:
        raise RecipeError(f"recipe {recipe_name!r}: mergekit rejects the rendered config: {exc}\n---\n{yaml_text}") from None
    known = sorted(m.spec.name for m in registry.registered_methods())
    if merge_config.merge_method not in known:
        raise RecipeError(
            f"recipe {recipe_name!r}: unknown merge_method {merge_config.merge_method!r}; mergekit knows {known}"
        )
    return merge_config


def check_compatible(base: Path, finetuned: Path) -> None:
    """Same architecture, same tensor names and shapes, same vocabulary — or a clear error."""
    base_cfg, ft_cfg = read_config(base), read_config(finetuned)
    for folder, cfg in ((base, base_cfg), (finetuned, ft_cfg)):
        if not cfg.get("architectures"):
            raise RecipeError(
                f"{folder}/config.json has no `architectures`: mergekit needs it to know the tensor layout; "
                "re-save the checkpoint with the model class's save_pretrained"
            )
    differing = [
        f"{key}: base={base_cfg.get(key)!r} fine-tuned={ft_cfg.get(key)!r}"
        for key in _ARCHITECTURE_KEYS
        if base_cfg.get(key) != ft_cfg.get(key)
    ]
    if differing:
        raise RecipeError(
            f"mismatched architectures: {finetuned} is not a fine-tune of {base} ({'; '.join(differing)}); "
            "merge a checkpoint only with the base model it was trained from"
        )
    base_shapes, ft_shapes = tensor_shapes(base), tensor_shapes(finetuned)
    problems = [f"{n} missing in fine-tuned" for n in sorted(base_shapes.keys() - ft_shapes.keys())]
    problems += [f"{n} missing in base" for n in sorted(ft_shapes.keys() - base_shapes.keys())]
    problems += [
        f"{n}: base {list(base_shapes[n])} vs fine-tuned {list(ft_shapes[n])}"
        for n in sorted(base_shapes.keys() & ft_shapes.keys())
        if base_shapes[n] != ft_shapes[n]
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; … {len(problems) - 5} more" if len(problems) > 5 else "")
        raise RecipeError(f"mismatched architectures: tensors of {base} and {finetuned} differ: {shown}")
    _check_same_vocabulary(base, finetuned)


def _check_same_vocabulary(base: Path, finetuned: Path) -> None:
    from transformers import AutoTokenizer

    base_vocab = AutoTokenizer.from_pretrained(str(base)).get_vocab()
    ft_vocab = AutoTokenizer.from_pretrained(str(finetuned)).get_vocab()
    if base_vocab != ft_vocab:
        moved = sorted(t for t in base_vocab.keys() | ft_vocab.keys() if base_vocab.get(t) != ft_vocab.get(t))
        raise RecipeError(
            f"tokenizers of {base} and {finetuned} differ ({len(moved)} tokens, e.g. {moved[:5]}): embedding rows "
            "would be averaged across different tokens; train the fine-tune with the base tokenizer"
        )


def _plan_tasks(merge_config, options, out_dir: Path) -> list:
    """mergekit's planner: the tasks `run_merge` would execute (planning writes nothing)."""
    from mergekit.architecture import get_architecture_info
    from mergekit.merge import _model_out_config
    from mergekit.plan import MergePlanner

    try:
        arch_info = get_architecture_info(merge_config, options)
        out_config = _model_out_config(merge_config, arch_info)
        planner = MergePlanner(merge_config.model_copy(deep=True), arch_info, options, out_config)
        return planner.plan_to_disk(out_path=str(out_dir))
    except (RuntimeError, ValueError) as exc:
        raise RecipeError(f"mergekit cannot plan this merge: {exc}") from None


def _resolved_parameters(tasks: list, base_ref, ft_ref) -> dict[str, dict[str, Any]]:
    """Every output tensor's merge parameters as mergekit's planner resolved them (filters, gradients)."""
    label = {base_ref: "base", ft_ref: "finetuned"}
    resolved: dict[str, dict[str, Any]] = {}
    for task in tasks:
        tensor_task = getattr(task, "tensor_task", None)
        if tensor_task is None:
            continue
        params = dict(tensor_task.parameters)
        for model, per_input in tensor_task.input_parameters.items():
            for key, value in per_input.items():
                params.setdefault(key, {})[label.get(model, str(model))] = value
        resolved[task.tensor_name] = params
    return resolved


def _check_parameters(recipe_name: str, method: str, resolved: dict[str, dict[str, Any]]) -> None:
    for tensor, params in resolved.items():
        if method == "linear":
            weights = params.get("weight", {})
            total = sum(weights.values())
            if not math.isclose(total, 1.0, abs_tol=_SUM_TOLERANCE):
                parts = " + ".join(f"{v:g} ({k})" for k, v in weights.items())
                raise RecipeError(
                    f"recipe {recipe_name!r}: linear weights must sum to 1 so that merged = Σ wᵢ·θᵢ, "
                    f"but for {tensor} they are {parts} = {total:g}; fix the weights in the recipe"
                )
        if method == "slerp":
            t = params.get("t")
            if t is None or not 0.0 <= float(t) <= 1.0:
                raise RecipeError(
                    f"recipe {recipe_name!r}: SLERP t must lie in [0, 1] (0 = base, 1 = fine-tuned), "
                    f"got {t!r} for {tensor}"
                )


def prepare_merge(recipe: MergeRecipe, config: MergeConfig, *, base: Path, finetuned: Path, out_dir: Path) -> MergePlan:
    """Render, parse and check a recipe against two checkpoints; raises RecipeError, writes nothing."""
    from mergekit.common import ModelReference

    base, finetuned = Path(base), Path(finetuned)
    num_layers = int(read_config(base).get("num_hidden_layers", 0))
    yaml_text = render_recipe(recipe, config, base=str(base), finetuned=str(finetuned), num_layers=num_layers)
    merge_config = parse_merge_yaml(recipe.name, yaml_text)
    referenced = {str(m.model.path) for m in merge_config.referenced_models()}
    if referenced - {str(base), str(finetuned)}:
        raise RecipeError(
            f"recipe {recipe.name!r}: template {recipe.template!r} references models other than the base and "
            f"fine-tuned checkpoints: {sorted(referenced - {str(base), str(finetuned)})}"
        )
    try:
        check_compatible(base, finetuned)
    except RecipeError as exc:
        raise RecipeError(f"recipe {recipe.name!r}: {exc}") from None
    options = merge_options(config)
    try:
        tasks = _plan_tasks(merge_config, options, out_dir)
        if config.engine == "stream":
            from luth_pipeline.core.merge.stream import streamable_parts

            streamable_parts(tasks)
    except RecipeError as exc:
        raise RecipeError(f"recipe {recipe.name!r}: {exc}") from None
    resolved = _resolved_parameters(tasks, ModelReference.parse(str(base)), ModelReference.parse(str(finetuned)))
    _check_parameters(recipe.name, merge_config.merge_method, resolved)
    return MergePlan(
        recipe=recipe, yaml_text=yaml_text, merge_config=merge_config, options=options,
        base=base, finetuned=finetuned, num_layers=num_layers, tensor_parameters=resolved,
    )
