"""SLERP merge of two real-size Qwen3-0.6B checkpoints vs the I/O floor (read both, write one).

    .venv/bin/python benchmarks/merge.py [--reps 2] [--device cpu|cuda] [--workdir DIR]

Two random-init checkpoints with Qwen3-0.6B's real dimensions (bf16 safetensors, tied
embeddings: 596M parameters, 1.19 GB each) stand in for base and fine-tuned — no hub access
is needed, and merge cost depends only on shapes and dtype. The floor is what any merge must
pay: load every tensor of both inputs and write one output of the same size. Both are timed
in the same run, alternating, on a warm page cache (inputs were just written). On a GPU host
pass `--device cuda` (mergekit then does the arithmetic on the GPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import Qwen3Config, Qwen3ForCausalLM  # noqa: E402

from luth_pipeline.core.config import load_profile  # noqa: E402
from luth_pipeline.core.merge.checkpoint_files import parameter_checksum  # noqa: E402
from luth_pipeline.core.merge.config import MergeConfig  # noqa: E402
from luth_pipeline.core.merge.recipes import load_catalogue  # noqa: E402
from luth_pipeline.core.merge.run import merge_checkpoints  # noqa: E402
from luth_pipeline.core.models import resolve_base_model  # noqa: E402

# Qwen/Qwen3-0.6B config.json
QWEN3_0_6B = dict(
    architectures=["Qwen3ForCausalLM"],
    vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
    num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
    rope_theta=1_000_000, rms_norm_eps=1e-6, tie_word_embeddings=True, dtype="bfloat16",
)


def write_checkpoint(folder: Path, tokenizer_dir: Path, seed: int, like: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """A Qwen3-0.6B-shaped checkpoint: random weights (or `like` + noise, a stand-in fine-tune)."""
    config = Qwen3Config(**QWEN3_0_6B)
    with torch.device("meta"):
        shapes = {n: p.shape for n, p in Qwen3ForCausalLM(config).state_dict().items() if n != "lm_head.weight"}
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=generator, dtype=torch.float32).mul_(0.02)
        tensors[name] = (noise if like is None else like[name].float().add_(noise, alpha=0.1)).to(torch.bfloat16)
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    for file in tokenizer_dir.iterdir():  # a small tokenizer: merging never reads it
        if file.name.startswith(("tokenizer", "chat_template", "special_tokens")):
            (folder / file.name).write_bytes(file.read_bytes())
    return tensors


def io_floor(base: Path, finetuned: Path, out: Path) -> float:
    started = time.perf_counter()
    a = load_file(str(base / "model.safetensors"))
    b = load_file(str(finetuned / "model.safetensors"))
    out.mkdir(parents=True, exist_ok=True)
    save_file(a, str(out / "model.safetensors"), metadata={"format": "pt"})
    elapsed = time.perf_counter() - started
    del a, b
    return elapsed


def torch_slerp_floor(base: Path, finetuned: Path, out: Path, t: float = 0.7) -> float:
    """The arithmetic floor: read both, one lean float32 SLERP per tensor (3 dots + 1 axpy), write one.

    No graph, no planning, no chunking: what plain torch needs for the same math on this CPU.
    """
    started = time.perf_counter()
    a_all = load_file(str(base / "model.safetensors"))
    b_all = load_file(str(finetuned / "model.safetensors"))
    merged = {}
    for name, a16 in a_all.items():
        a, b = a16.float().view(-1), b_all[name].float().view(-1)
        na, nb = torch.linalg.vector_norm(a), torch.linalg.vector_norm(b)
        dot = float(torch.dot(a, b) / (na * nb).clamp_min(1e-8))
        if abs(dot) > 0.9995:
            ca, cb = 1 - t, t
        else:
            theta = math.acos(max(-1.0, min(1.0, dot)))
            ca, cb = math.sin((1 - t) * theta) / math.sin(theta), math.sin(t * theta) / math.sin(theta)
        merged[name] = a.mul_(ca).add_(b, alpha=cb).view(a16.shape).to(torch.bfloat16)
    del a_all, b_all
    out.mkdir(parents=True, exist_ok=True)
    save_file(merged, str(out / "model.safetensors"), metadata={"format": "pt"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true", help="rewrite the two input checkpoints")
    args = parser.parse_args()

    profile = load_profile("local")
    work = args.workdir or profile.work_path / "bench" / "merge"
    name, spec = next(iter(profile.base_models.items()))
    tokenizer_dir = Path(resolve_base_model(name, spec, profile.work_path))
    base, finetuned = work / "qwen3-0.6b-base", work / "qwen3-0.6b-ft"
    t0 = time.perf_counter()
    if args.rebuild or not (finetuned / "model.safetensors").is_file():
        base_tensors = write_checkpoint(base, tokenizer_dir, seed=0)
        write_checkpoint(finetuned, tokenizer_dir, seed=1, like=base_tensors)
        del base_tensors
        print(f"built 2 checkpoints in {time.perf_counter() - t0:.0f}s", flush=True)
    params = parameter_checksum(base)[1]

    config = MergeConfig(dtype="bfloat16", device=args.device, verify_load=False)
    recipe = load_catalogue(config)["slerp-070"]
    floors, math_floors, merges, totals = [], [], [], []
    for rep in range(args.reps):
        floors.append(io_floor(base, finetuned, work / "floor-out"))
        print(f"rep {rep}: I/O floor {floors[-1]:.1f}s", flush=True)
        math_floors.append(torch_slerp_floor(base, finetuned, work / "floor-out"))
        print(f"rep {rep}: plain-torch SLERP (read + math + write) {math_floors[-1]:.1f}s", flush=True)
        result = merge_checkpoints(recipe, config, base=base, finetuned=finetuned, out_dir=work / "merged")
        merges.append(result.merge_seconds)
        totals.append(result.total_seconds)
        print(f"rep {rep}: SLERP run_merge {merges[-1]:.1f}s (with checks, tokenizer, checksum: {totals[-1]:.1f}s)", flush=True)

    summary = {
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}, threads {torch.get_num_threads()}",
        "device": args.device,
        "params_m": round(params / 1e6, 1),
        "checkpoint_gb": round((base / "model.safetensors").stat().st_size / 1e9, 2),
        # Medians over alternating reps; min too, as the shared machine adds noise to both.
        "io_floor_min_s": round(min(floors), 2),
        "slerp_merge_min_s": round(min(merges), 2),
        "merge_over_floor_min": round(min(merges) / min(floors), 2),
        "io_floor_s": round(statistics.median(floors), 2),
        "torch_slerp_s": round(statistics.median(math_floors), 2),
        "slerp_merge_s": round(statistics.median(merges), 2),
        "slerp_total_s": round(statistics.median(totals), 2),
        "merge_over_floor": round(statistics.median(merges) / statistics.median(floors), 2),
        "merge_over_torch_slerp": round(statistics.median(merges) / statistics.median(math_floors), 2),
        "total_over_floor": round(statistics.median(totals) / statistics.median(floors), 2),
        "floors_s": [round(x, 2) for x in floors],
        "torch_slerps_s": [round(x, 2) for x in math_floors],
        "merges_s": [round(x, 2) for x in merges],
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
