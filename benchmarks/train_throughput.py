"""Training throughput: plain transformers vs the light engine, same run, same model, same data.

Needs only torch + transformers (+ liger-kernel, flash-attn when installed): random-init Qwen3
architectures (no hub weights needed), synthetic chat-like documents with a long-tailed length
distribution.

- baseline: transformers `Trainer`, SDPA, bins fed as plain rows (no document masking, no
  Liger), i.e. what a script that just concatenates documents does;
- luth:     the light engine (`luth_pipeline.core.train.light.train_light`) exactly as the
            `finetuned_checkpoint` asset runs it: fp32 master weights + AdamW state under bf16
            autocast on CUDA, our packed collator (document-masked attention), the attention
            backend(s) of `--attn`, Liger per `--liger`, gradient checkpointing per `--grad-ckpt`
            (`auto`: the engine's memory estimate decides, as in the asset).

Every row trains the same bins for the same steps in the same process; the first `--warmup`
steps are not timed. Reports tokens/s (real tokens), MFU (PaLM formula: baseline attends the
whole row, ours a token's own document), peak memory next to the engine's estimate, and the
run's wall/CPU seconds and load average. `--profile DIR` adds a torch-profiler kernel table of
one timed step of the first luth row.

    python benchmarks/train_throughput.py --attn auto,flex_attention,sdpa     # GPU: 0.6B + 1.7B at 4k and 16k
    python benchmarks/train_throughput.py --models tiny --seqs 256,1024 --steps 6 --attn auto,eager   # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM, TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from luth_pipeline.core.train import metrics as m  # noqa: E402
from luth_pipeline.core.train.attention import BACKENDS, available_flash_attention  # noqa: E402
from luth_pipeline.core.train.light import LightTrainSettings, has_liger, train_light  # noqa: E402
from luth_pipeline.core.train.packed import PackedDataset  # noqa: E402

ARCHS = {
    # Qwen/Qwen3-0.6B and Qwen/Qwen3-1.7B config.json (architecture only; weights random).
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True),
    "qwen3-1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True),
    # The local profile's tiny model: runs anywhere.
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, vocab_size=2048, tie_word_embeddings=True),
}


def make_model(name: str, seq: int) -> Qwen3ForCausalLM:
    config = Qwen3Config(**ARCHS[name], max_position_embeddings=max(seq, 40960), rope_theta=1_000_000.0)
    torch.manual_seed(0)
    return Qwen3ForCausalLM(config)


def synthetic_bins(n_bins: int, seq: int, vocab: int, mean_doc: int, seed: int = 0) -> list[dict]:
    """Bins of documents (log-normal lengths, like chat data), filled greedily up to `seq`.

    Labels mark a suffix of each document as the "assistant answer" (loss on ~60% of tokens)."""
    rng = random.Random(seed)
    bins = []
    for _ in range(n_bins):
        ids, labels, pos, used = [], [], [], 0
        while used < seq:
            n = max(8, min(seq - used, int(rng.lognormvariate(math.log(mean_doc), 0.9))))
            if seq - used < 8:
                n = seq - used
            doc = [rng.randrange(10, vocab) for _ in range(n)]
            cut = int(n * 0.4)
            ids += doc
            labels += [-100] * cut + doc[cut:]
            pos += list(range(n))
            used += n
        bins.append({"input_ids": ids, "labels": labels, "position_ids": pos})
    return bins


def as_plain_rows(bins: list[dict]) -> list[dict]:
    """The baseline's view: one running position range per row, so nothing masks documents."""
    return [{**b, "position_ids": list(range(len(b["input_ids"])))} for b in bins]


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step (CUDA synchronised); optionally profiles one timed step."""

    def __init__(self, warmup: int, profile_dir: Path | None = None):
        self.times = []
        self.warmup = warmup
        self.profile_dir = profile_dir
        self.profiler = None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.profile_dir is not None and state.global_step == self.warmup:  # the first timed step
            activities = [torch.profiler.ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self.profiler = torch.profiler.profile(activities=activities, record_shapes=True)
            self.profiler.__enter__()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._t)
        if self.profiler is not None:
            self.profiler.__exit__(None, None, None)
            self.write_profile()
            self.profiler, self.profile_dir = None, None

    def write_profile(self) -> None:
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        key = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
        table = self.profiler.key_averages().table(sort_by=key, row_limit=30)
        (self.profile_dir / "kernels.txt").write_text(table)
        self.profiler.export_chrome_trace(str(self.profile_dir / "trace.json"))
        print(f"profile of one step ({key}), full table in {self.profile_dir}/kernels.txt:\n{table}", flush=True)


def measure(name: str, seq: int, micro: int, steps: int, warmup: int, engine: str, attn: str, liger: str,
            mean_doc: int, grad_ckpt: str, master_weights: str, peak_flops: float | None,
            profile_dir: Path | None = None, memory_budget_gib: float | None = None) -> dict:
    n_bins = micro * (steps + warmup)
    bins = synthetic_bins(n_bins, seq, ARCHS[name]["vocab_size"], mean_doc)
    rows = bins if engine == "luth" else as_plain_rows(bins)
    dataset = PackedDataset(rows)
    settings = LightTrainSettings(
        learning_rate=2e-5, num_epochs=1, max_steps=steps + warmup, micro_batch_size=micro,
        gradient_accumulation_steps=1, warmup_ratio=0.1, bf16=None, master_weights=master_weights,
        gradient_checkpointing={"auto": None, "on": True, "off": False}[grad_ckpt],
        attn_implementation=attn if engine == "luth" else "sdpa",
        use_liger=liger if engine == "luth" else "off",
        save_steps=10**9, logging_steps=1, peak_flops=peak_flops, memory_budget_gib=memory_budget_gib,
    )
    timer = StepTimer(warmup, profile_dir if engine == "luth" else None)
    model = make_model(name, seq)  # fp32; the engine casts it to `master_weights` as the asset's load does
    if torch.cuda.is_available():
        model = model.cuda()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    out_dir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    label = {"model": name, "seq": seq, "engine": engine, "micro_batch": micro, "attn_requested": settings.attn_implementation,
             "liger_requested": settings.use_liger}
    try:
        result = train_light(model, dataset, settings, out_dir, resume=False, extra_callbacks=[timer])
    except torch.OutOfMemoryError:
        return {**label, "error": "OOM"}
    except RuntimeError as exc:  # a backend this host cannot run (flash-attn not installed, ...)
        return {**label, "error": str(exc).splitlines()[0][:120]}
    finally:
        import shutil

        shutil.rmtree(out_dir, ignore_errors=True)
    timed = timer.times[warmup:]
    tokens_per_step = sum(len(b["input_ids"]) for b in bins) / len(bins) * micro
    tps = tokens_per_step / statistics.median(timed)
    s = result.summary
    params = m.non_embedding_params(result.model)
    context = m.attention_context(dataset.document_lengths())
    fpt = m.flops_per_token(result.model.config, params, context)
    peak = peak_flops or m.device_peak_flops()
    mem = m.peak_memory_bytes()
    row = {
        **label, "attn": s["attn_implementation"], "liger": s["liger_kernel"], "precision": s["precision"],
        "master_weights": s["master_weights"], "grad_ckpt": s["gradient_checkpointing"],
        "tokens_per_s": round(tps, 1), "median_step_s": round(statistics.median(timed), 4),
        "mfu": round(tps * fpt / peak, 4) if peak else None,
        "peak_memory_gib": round((mem if mem is not None else m.process_rss_bytes()) / 2**30, 2),
        "memory_kind": "cuda max allocated" if mem is not None else "process max RSS",
        "estimate_gib": s["memory_estimate_gib"]["total"],
        "attention_context": round(context, 1),
    }
    del result, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return row


def _choices(value: str, allowed) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"{bad} not in {list(allowed)}")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="qwen3-0.6b,qwen3-1.7b")
    parser.add_argument("--seqs", default="4096,16384")
    parser.add_argument("--tokens-per-step", type=int, default=32768, help="micro-batch = this / seq (min 1)")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation, autotune, allocator)")
    parser.add_argument("--mean-doc", type=int, default=900, help="mean synthetic document length (tokens)")
    parser.add_argument("--attn", type=lambda v: _choices(v, BACKENDS), default=["auto"],
                        help=f"light engine attention backend(s), comma-separated, side by side: {','.join(BACKENDS)}")
    parser.add_argument("--liger", type=lambda v: _choices(v, ("auto", "on", "off")), default=["auto"],
                        help="Liger kernels for the light engine (comma-separated for side by side)")
    parser.add_argument("--grad-ckpt", choices=("auto", "on", "off"), default="auto",
                        help="gradient checkpointing (auto: the engine's memory estimate decides, as in the asset)")
    parser.add_argument("--master-weights", choices=("fp32", "bf16"), default="fp32",
                        help="precision of the optimised weights (fp32: what the asset runs)")
    parser.add_argument("--memory-budget-gib", type=float, default=None,
                        help="plan for (and on CUDA, cap this process at) this much GPU memory, e.g. 80 for an H100 on an H200")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain-transformers rows")
    parser.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s for MFU (default: by GPU name)")
    parser.add_argument("--profile", type=Path, default=None, help="profile one timed step of the first luth row into DIR")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    import transformers

    print(f"device: {device}; torch {torch.__version__}; transformers {transformers.__version__}; "
          f"flash-attn: {available_flash_attention() if torch.cuda.is_available() else None}; liger: {has_liger()}", flush=True)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else None
    if args.memory_budget_gib and torch.cuda.is_available():
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_budget_gib * 2**30 / total))
    wall0, usage0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    rows, profile_dir = [], args.profile
    for name in args.models.split(","):
        for seq in map(int, args.seqs.split(",")):
            micro = max(1, args.tokens_per_step // seq)
            runs = [] if args.no_baseline else [("baseline", "sdpa", "off")]
            runs += [("luth", attn, liger) for attn in args.attn for liger in args.liger]
            for engine, attn, liger in runs:
                row = measure(name, seq, micro, args.steps, args.warmup, engine, attn, liger, min(args.mean_doc, seq),
                              args.grad_ckpt, args.master_weights, peak, profile_dir, args.memory_budget_gib)
                if engine == "luth" and "error" not in row:
                    profile_dir = None  # one profiled step per invocation
                rows.append(row)
                print(json.dumps(row), flush=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cost = {"wall_s": round(time.perf_counter() - wall0, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}
    print_table(rows)
    print(f"\nrun cost: {cost['wall_s']} s wall, {cost['cpu_s']} s CPU, load average {cost['load_avg']}")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "torch": torch.__version__, "cost": cost, "rows": rows}, indent=2))


def print_table(rows: list[dict]) -> None:
    print("\n| model | seq | engine | micro-batch | attention | liger | master weights | grad ckpt | tokens/s | MFU "
          "| peak mem GiB | estimate GiB | vs baseline |")
    print("|---|---:|---|---:|---|---|---|---|---:|---:|---:|---:|---:|")
    for row in rows:
        head = f"| {row['model']} | {row['seq']} | {row['engine']} | {row['micro_batch']} "
        if "error" in row:
            print(head + f"| {row['attn_requested']} | {row['liger_requested']} | | | {row['error']} | | | | |")
            continue
        base = next((r for r in rows if r["model"] == row["model"] and r["seq"] == row["seq"] and r["engine"] == "baseline" and "error" not in r), None)
        speedup = f"{row['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base else "-"
        mfu = f"{row['mfu'] * 100:.1f}%" if row["mfu"] is not None else "n/a"
        print(head + f"| {row['attn']} | {row['liger']} | {row['master_weights']} | {row['grad_ckpt']} | "
              f"{row['tokens_per_s']:,.0f} | {mfu} | {row['peak_memory_gib']} | {row['estimate_gib']} | {speedup} |")


if __name__ == "__main__":
    main()
