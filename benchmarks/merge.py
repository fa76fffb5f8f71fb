"""SLERP merge of two real-size Qwen3-0.6B checkpoints, per engine, vs the I/O floor (read both, write one).

    .venv/bin/python benchmarks/merge.py [--reps 3] [--engine both|stream|mergekit] [--device cpu|cuda]
                                         [--threads 1] [--workdir DIR]

Two random-init checkpoints with Qwen3-0.6B's real dimensions (bf16 safetensors, tied
embeddings: 596M parameters, 1.19 GB each) stand in for base and fine-tuned — no hub access
is needed, and merge cost depends only on shapes and dtype. The I/O floor is what any merge
must pay: every byte of both inputs read once from the page cache (safetensors' mmap, copied
into a scratch buffer) and one output of the same size written with safetensors. The floor and
each engine (`run_engine`: plan, read, merge, write; no preflight, tokenizer or checksum) are
timed in the same run, alternating, page cache warm, wall and process CPU seconds (all threads,
the async shard writer included), with the load average: on a shared machine, other jobs
inflate wall time, CPU seconds less so. At the end the two engines' outputs are compared
tensor by tensor (parameter checksum). On a GPU host pass `--device cuda`: the engines read
each tensor straight to the GPU (`read_to_gpu`, as the `gpu` profile does), merge there and
copy the result back for writing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import Qwen3Config, Qwen3ForCausalLM  # noqa: E402

from luth_pipeline.core.config import load_profile  # noqa: E402
from luth_pipeline.core.merge.checkpoint_files import parameter_checksum  # noqa: E402
from luth_pipeline.core.merge.config import MergeConfig  # noqa: E402
from luth_pipeline.core.merge.preflight import prepare_merge  # noqa: E402
from luth_pipeline.core.merge.recipes import load_catalogue  # noqa: E402
from luth_pipeline.core.merge.run import run_engine  # noqa: E402
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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(run: Callable[[], object]) -> dict[str, float]:
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": cpu_seconds() - cpu, "load1": load}


def io_floor(base: Path, finetuned: Path, out: Path) -> None:
    """Read every byte of both inputs once, write one output of the same size."""
    a = load_file(str(base / "model.safetensors"))  # mmap: bytes are read when touched
    b = load_file(str(finetuned / "model.safetensors"))
    scratch = torch.empty(max(t.numel() for t in b.values()), dtype=torch.bfloat16)
    for tensor in b.values():  # the cheapest full read: a copy into one reused buffer
        scratch[: tensor.numel()].copy_(tensor.reshape(-1))
    out.mkdir(parents=True, exist_ok=True)
    save_file(a, str(out / "model.safetensors"), metadata={"format": "pt"})  # reads a, writes it


def base_only_floor(base: Path, finetuned: Path, out: Path) -> None:
    """The floor as measured before 2026-11-30, for comparison: the fine-tuned file is mapped but
    never read (safetensors maps lazily), so it undercounts the reads by half."""
    a = load_file(str(base / "model.safetensors"))
    load_file(str(finetuned / "model.safetensors"))
    out.mkdir(parents=True, exist_ok=True)
    save_file(a, str(out / "model.safetensors"), metadata={"format": "pt"})


def timed_engine(config: MergeConfig, recipe, base: Path, finetuned: Path, out: Path) -> dict[str, float]:
    """One merge by `config.engine` into a fresh `out`; the checks before it are not timed."""
    if out.exists():
        shutil.rmtree(out)
    plan = prepare_merge(recipe, config, base=base, finetuned=finetuned, out_dir=out)
    out.mkdir(parents=True)
    return timed(lambda: run_engine(config, plan, out))


def summarize(samples: list[dict[str, float]]) -> dict[str, float]:
    return {
        "wall_s": round(statistics.median(s["wall_s"] for s in samples), 2),
        "cpu_s": round(statistics.median(s["cpu_s"] for s in samples), 2),
        "walls": [round(s["wall_s"], 2) for s in samples],
        "cpus": [round(s["cpu_s"], 2) for s in samples],
        "load1": [round(s["load1"], 1) for s in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--engine", default="both", choices=["both", "stream", "mergekit"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads during the merge (0 = torch's default)")
    parser.add_argument("--recipe", default="slerp-070")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true", help="rewrite the two input checkpoints")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch.cuda.is_available() is False on this host")

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

    engines = ["stream", "mergekit"] if args.engine == "both" else [args.engine]
    configs = {
        engine: MergeConfig(
            dtype="bfloat16", device=args.device, read_to_gpu=args.device != "cpu", verify_load=False,
            engine=engine, num_threads=args.threads or None,
        )
        for engine in engines
    }
    recipe = load_catalogue(configs[engines[0]])[args.recipe]
    samples: dict[str, list[dict[str, float]]] = {"io_floor": [], "base_only_floor": [], **{engine: [] for engine in engines}}
    for rep in range(args.reps):
        samples["io_floor"].append(timed(lambda: io_floor(base, finetuned, work / "floor-out")))
        print(f"rep {rep}: I/O floor {samples['io_floor'][-1]}", flush=True)
        samples["base_only_floor"].append(timed(lambda: base_only_floor(base, finetuned, work / "floor-out")))
        print(f"rep {rep}: base-only floor (earlier definition) {samples['base_only_floor'][-1]}", flush=True)
        for engine in engines:
            out = work / f"merged-{engine}"
            samples[engine].append(timed_engine(configs[engine], recipe, base, finetuned, out))
            print(f"rep {rep}: {args.recipe} engine {engine} {samples[engine][-1]}", flush=True)

    floor = summarize(samples["io_floor"])
    summary = {
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}, merge threads {args.threads or torch.get_num_threads()}"
        + (f", {torch.cuda.get_device_name()}" if args.device != "cpu" and torch.cuda.is_available() else ""),
        "device": args.device,
        "recipe": args.recipe,
        "params_m": round(params / 1e6, 1),
        "checkpoint_gb": round((base / "model.safetensors").stat().st_size / 1e9, 2),
        "io_floor": floor,
        "base_only_floor": summarize(samples["base_only_floor"]),
    }
    for engine in engines:
        stats = summarize(samples[engine])
        stats["wall_over_floor"] = round(stats["wall_s"] / floor["wall_s"], 2)
        stats["cpu_over_floor"] = round(stats["cpu_s"] / floor["cpu_s"], 2)
        stats["wall_over_base_only_floor"] = round(stats["wall_s"] / summary["base_only_floor"]["wall_s"], 2)
        summary[engine] = stats
    if len(engines) == 2:
        checksums = {engine: parameter_checksum(work / f"merged-{engine}")[0] for engine in engines}
        summary["identical_outputs"] = len(set(checksums.values())) == 1
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
