"""The `stream` merge engine: mergekit's own plan, loader, writer and merge methods, run one
tensor at a time, with SLERP's arithmetic done by `slerp_exact` (mergekit's float32 ops, in
mergekit's order, without its extra conversions and temporaries).

Why not `run_merge` as is: on a CPU, ~95 % of a bf16 SLERP goes to mergekit's kernel, which
converts every element to float32 three times per input and allocates ~10 chunk-sized
temporaries per chunk. `slerp_exact` gives the same bits (tested against mergekit on every
tensor) for a fraction of that. Every other method — and every case the fast path does not
cover (missing/optional inputs, non-float buffers, float64, mixed dtypes) — runs mergekit's
own task code unchanged, so a recipe means the same thing under both engines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from luth_pipeline.core.merge.recipes import RecipeError

# Dtypes whose SLERP mergekit computes in float32 (float64 it keeps in float64: left to mergekit).
_FLOAT32_MATH = (torch.bfloat16, torch.float16, torch.float32)


class ChunkBuffers:
    """Two float32 chunk buffers per device, allocated once per merge and reused by every tensor:
    fresh ones per tensor page-fault 8 MB each time (1 of 7 CPU-seconds on the 0.6B benchmark)."""

    def __init__(self) -> None:
        self._by_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, device: torch.device, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        from mergekit.merge_methods.slerp import _CHUNK_ELEMENTS

        if device not in self._by_device:
            x = torch.empty((1, _CHUNK_ELEMENTS), dtype=torch.float32, device=device)
            self._by_device[device] = (x, torch.empty_like(x))
        x, y = self._by_device[device]
        return x[:, :size], y[:, :size]


def slerp_exact(t: float, v0: torch.Tensor, v1: torch.Tensor, buffers: ChunkBuffers | None = None) -> torch.Tensor:
    """mergekit's `slerp(t, v0, v1)` for one pair of same-dtype tensors, bit for bit.

    Whole tensor as one vector (v0 = base, t = v1's share), float32 math per chunk of
    mergekit's `_CHUNK_ELEMENTS`, result in the inputs' dtype. Bit-exactness rests on running
    the same float32 reductions (`vector_norm`, `sum`) over the same chunks and the same
    elementwise ops — a bf16→float32 conversion is exact, and IEEE mul/div are commutative —
    so only where the conversions land changes: each pass converts a chunk into one reused
    float32 buffer instead of allocating fresh copies (mergekit: 3 conversions per input and
    ~10 chunk-sized allocations per chunk).
    """
    from mergekit.merge_methods.slerp import _CHUNK_ELEMENTS

    if v0.dtype not in _FLOAT32_MATH or v1.dtype != v0.dtype or v0.shape != v1.shape:
        raise TypeError(f"slerp_exact takes two tensors of one shape and one of {_FLOAT32_MATH}; got {v0.dtype} {tuple(v0.shape)}, {v1.dtype} {tuple(v1.shape)}")
    a, b = v0.reshape(1, -1), v1.reshape(1, -1)
    n = a.shape[1]
    if n == 0:
        return v0.clone()
    # As mergekit's batch packing builds it: a float32 [1] tensor, then shaped [1, 1].
    t_ = torch.tensor([t], dtype=torch.float32, device=v0.device).reshape(-1, 1)
    chunk = _CHUNK_ELEMENTS  # one tensor per batch: mergekit's chunk is _CHUNK_ELEMENTS // 1
    spans = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    x_buf, y_buf = (buffers or ChunkBuffers()).get(v0.device, min(chunk, n))

    norm_a_parts, norm_b_parts = [], []
    for start, stop in spans:
        x, y = x_buf[:, : stop - start], y_buf[:, : stop - start]
        x.copy_(a[:, start:stop])
        y.copy_(b[:, start:stop])
        norm_a_parts.append(torch.linalg.vector_norm(x, dim=1, keepdim=True))
        norm_b_parts.append(torch.linalg.vector_norm(y, dim=1, keepdim=True))
    eps = 1e-8
    norm_a = torch.linalg.vector_norm(torch.stack(norm_a_parts), dim=0)
    norm_b = torch.linalg.vector_norm(torch.stack(norm_b_parts), dim=0)
    norm_a = torch.where(norm_a > eps, norm_a, 1)
    norm_b = torch.where(norm_b > eps, norm_b, 1)

    dot_parts = []
    for start, stop in spans:
        x, y = x_buf[:, : stop - start], y_buf[:, : stop - start]
        x.copy_(a[:, start:stop]).div_(norm_a)
        y.copy_(b[:, start:stop]).div_(norm_b)
        dot_parts.append(x.mul_(y).sum(dim=1, keepdim=True))
    dot = torch.stack(dot_parts).sum(dim=0).clamp(-1, 1)
    linear = dot.abs() > 0.9995
    theta = torch.acos(torch.where(linear, 0, dot))
    sin_theta = torch.sin(theta)
    coef_a = torch.where(linear, 1 - t_, torch.sin((1 - t_) * theta) / sin_theta)
    coef_b = torch.where(linear, t_, torch.sin(t_ * theta) / sin_theta)

    result = torch.empty_like(a)
    for start, stop in spans:
        x, y = x_buf[:, : stop - start], y_buf[:, : stop - start]
        x.copy_(a[:, start:stop]).mul_(coef_a)
        y.copy_(b[:, start:stop]).mul_(coef_b)
        result[:, start:stop] = x.add_(y)  # float32 → input dtype, rounded as mergekit's store
    return result.reshape(v0.shape)


def _fast_slerp_inputs(task: Any, tensors: dict) -> tuple[float, torch.Tensor, torch.Tensor] | None:
    """(t, base, other) when `task` is a plain two-input SLERP that `slerp_exact` reproduces, else None."""
    if task.method_name != "slerp" or task.dtype is not None or task.out_dtype is not None:
        return None
    if len(tensors) != 2 or task.base_model not in tensors:
        return None
    base = tensors[task.base_model]
    (other,) = (tensor for model, tensor in tensors.items() if model != task.base_model)
    if base.dtype not in _FLOAT32_MATH or other.dtype != base.dtype or other.shape != base.shape or base.device != other.device:
        return None
    return float(task.parameters["t"]), base, other


def streamable_parts(tasks: list) -> tuple[Any, list, Any]:
    """The writer task, the per-tensor save tasks and the finalize task of a plan — or a RecipeError
    naming what this engine does not run."""
    from mergekit.io.tasks import FinalizeModel, GatherTensors, SaveTensor
    from mergekit.merge_methods.task_adapter import ExecuteMergeMethodTask

    saves = [task for task in tasks if isinstance(task, SaveTensor)]
    finals = [task for task in tasks if isinstance(task, FinalizeModel)]
    odd = [type(task).__name__ for task in tasks if not isinstance(task, (SaveTensor, FinalizeModel))]
    odd += [
        f"{save.tensor_name}: {type(save.tensor_task).__name__}/{type(getattr(save.tensor_task, 'gather_tensors', None)).__name__}"
        for save in saves
        if not isinstance(save.tensor_task, ExecuteMergeMethodTask) or not isinstance(save.tensor_task.gather_tensors, GatherTensors)
    ]
    if odd or len(finals) != 1:
        raise RecipeError(
            f"merge engine 'stream' runs plans of per-tensor merges only, but this recipe plans "
            f"{sorted(set(odd))[:5]} (a tokenizer merge, vocabulary permutation, …): "
            "set `merge.engine: mergekit` in the profile to run it with mergekit's run_merge"
        )
    return finals[0].writer_task, saves, finals[0]


def run_stream_merge(merge_config: Any, out_path: str, options: Any, config_source: str | None = None) -> dict[str, int]:
    """What mergekit's `run_merge` writes (weights, config.json, model card, mergekit_config.yml),
    executed tensor by tensor: load both inputs, merge on `options.device`, hand the result to
    mergekit's shard writer, drop it. Returns how many tensors took the fast SLERP path and how
    many ran mergekit's own kernel."""
    from mergekit.architecture import get_architecture_info
    from mergekit.card import generate_card
    from mergekit.io.tasks import LoaderCache
    from mergekit.merge import _copy_tagalong_files, _model_out_config
    from mergekit.plan import MergePlanner

    arch_info = get_architecture_info(merge_config, options)
    LoaderCache().setup(options=options)
    out_config = _model_out_config(merge_config, arch_info, trust_remote_code=options.trust_remote_code)
    tasks = MergePlanner(merge_config, arch_info, options=options, out_model_config=out_config).plan_to_disk(out_path=out_path)
    writer_task, saves, finalize = streamable_parts(tasks)

    math_device = torch.device(options.device)
    storage_device = math_device if options.low_cpu_memory else torch.device("cpu")
    writer = writer_task.execute()
    counts = {"fast_slerp": 0, "mergekit_kernel": 0}
    buffers = ChunkBuffers()
    for save in saves:
        task = save.tensor_task
        gather = task.gather_tensors
        loaded = {key: load.execute() for key, load in gather.arguments().items()}
        tensors = gather.execute(**loaded)
        del loaded
        if task.uses_accelerator():  # as mergekit's executor: inputs go to the math device
            tensors = {model: tensor.to(math_device) for model, tensor in tensors.items()}
        fast = _fast_slerp_inputs(task, tensors)
        if fast is not None:
            merged = slerp_exact(*fast, buffers=buffers)
            counts["fast_slerp"] += 1
        else:
            merged = task.execute(tensors=tensors)
            counts["mergekit_kernel"] += 1
        del tensors
        if merged is not None:
            merged = merged.to(storage_device)
        save.execute(writer=writer, tensor=merged)
        del merged
    finalize.execute(writer=writer)
    LoaderCache().flush_all()

    out_config.save_pretrained(out_path)
    if options.write_model_card:
        config_source = config_source or merge_config.to_yaml()
        card = generate_card(config=merge_config, config_yaml=config_source, name=os.path.basename(out_path))
        Path(out_path, "README.md").write_text(card, encoding="utf-8")
        Path(out_path, "mergekit_config.yml").write_text(config_source, encoding="utf-8")
    _copy_tagalong_files(merge_config, out_path, files=arch_info.tagalong_files or [], options=options)
    return counts
