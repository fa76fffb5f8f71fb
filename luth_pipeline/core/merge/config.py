"""Settings of the `merge` stage: which recipes a profile runs and how mergekit executes them."""

from __future__ import annotations

from typing import Literal

from luth_pipeline.core.config.base import StrictModel


class MergeConfig(StrictModel):
    # Recipe catalogue (sweeps + named recipes) and the folder of mergekit YAML templates,
    # relative to the repository root.
    recipe_file: str = "configs/merge/recipes.yaml"
    template_dir: str = "configs/merge/templates"
    # Names from the catalogue that this profile merges (one partition each); empty = all.
    recipes: list[str] = []
    # Who executes mergekit's plan: "stream" (one tensor at a time, SLERP arithmetic by the
    # bit-identical `slerp_exact`, mergekit's own code for everything else; see core/merge/stream.py)
    # or "mergekit" (its `run_merge` as is). Both write the same tensors.
    engine: Literal["stream", "mergekit"] = "stream"
    # Arithmetic/storage dtype passed to mergekit (a recipe's params may override it).
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    # "auto" = CUDA when torch sees a GPU, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Keep intermediate tensors on the accelerator (when VRAM > RAM) and read weights straight to it.
    low_cpu_memory: bool = False
    read_to_gpu: bool = False
    lazy_unpickle: bool = False
    # Bytes per output shard (mergekit syntax: "5B", "500M"). A full shard is written while
    # later tensors are merged, so a smaller shard bounds memory: the output is not held whole.
    out_shard_size: str = "1B"
    # Write output shards on a background thread while later tensors are merged.
    async_write: bool = True
    # CPU threads for tensor math during the merge (None = torch's default). On a CPU shared with
    # other jobs, 1 avoids OpenMP threads spinning against each other (benchmarks/RESULTS.md).
    num_threads: int | None = None
    # After merging, load the result with AutoModelForCausalLM and run one forward pass.
    verify_load: bool = True
