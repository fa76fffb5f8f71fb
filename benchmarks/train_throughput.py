"""Training throughput: plain transformers vs the light engine, same run, same model, same data.

Needs only torch + transformers (+ liger-kernel, flash-attn when installed): random-init Qwen3
architectures (no hub weights needed), synthetic chat-like documents with a long-tailed length
distribution, bf16 on CUDA.

- baseline: transformers `Trainer`, SDPA, bins fed as plain rows (no document masking, no
  Liger), i.e. what a script that just concatenates documents does;
- luth:     the light engine (`luth_pipeline.core.train.light`), the same Trainer with our packed
            collator: document-masked attention (flash-attn varlen when installed, else SDPA
            block masks), Liger kernels when installed.

Both train the same bins for the same steps; the first `--warmup` steps are not timed. Reports
tokens/s (real tokens), MFU (PaLM formula: baseline attends the whole row, ours a token's own
document) and peak memory.

    python benchmarks/train_throughput.py                        # GPU: 0.6B and 1.7B, seq 4096 and 16384
    python benchmarks/train_throughput.py --models tiny --seqs 256,1024 --steps 6   # CPU smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM, TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from luth_pipeline.core.train import metrics as m  # noqa: E402
from luth_pipeline.core.train.light import LightTrainSettings, has_flash_attn, has_liger, train_light  # noqa: E402
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
    def __init__(self):
        self.times = []

    def on_step_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._t)


def measure(name: str, seq: int, micro: int, steps: int, warmup: int, engine: str, mean_doc: int,
            grad_ckpt: bool, peak_flops: float | None) -> dict:
    bf16 = torch.cuda.is_available()
    n_bins = micro * (steps + warmup)
    bins = synthetic_bins(n_bins, seq, ARCHS[name]["vocab_size"], mean_doc)
    rows = bins if engine == "luth" else as_plain_rows(bins)
    dataset = PackedDataset(rows)
    settings = LightTrainSettings(
        learning_rate=2e-5, num_epochs=1, max_steps=steps + warmup, micro_batch_size=micro,
        gradient_accumulation_steps=1, warmup_ratio=0.1, bf16=bf16, gradient_checkpointing=grad_ckpt,
        attn_implementation="auto" if engine == "luth" else "sdpa",
        use_liger="auto" if engine == "luth" else "off",
        save_steps=10**9, logging_steps=1, peak_flops=peak_flops,
    )
    timer = StepTimer()
    model = make_model(name, seq)
    if torch.cuda.is_available():
        model = model.cuda()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    out_dir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        result = train_light(model, dataset, settings, out_dir, resume=False, extra_callbacks=[timer])
    except torch.OutOfMemoryError:
        return {"model": name, "seq": seq, "engine": engine, "micro_batch": micro, "error": "OOM"}
    finally:
        import shutil

        shutil.rmtree(out_dir, ignore_errors=True)
    timed = timer.times[warmup:]
    tokens_per_step = micro * seq
    tps = tokens_per_step / statistics.median(timed)
    params = m.non_embedding_params(result.model)
    context = m.attention_context(dataset.document_lengths())
    fpt = m.flops_per_token(result.model.config, params, context)
    peak = peak_flops or m.device_peak_flops()
    mem = m.peak_memory_bytes()
    row = {
        "model": name, "seq": seq, "engine": engine, "micro_batch": micro,
        "attn": result.summary["attn_implementation"], "liger": result.summary["liger_kernel"],
        "precision": result.summary["precision"], "grad_ckpt": grad_ckpt,
        "tokens_per_s": round(tps, 1), "median_step_s": round(statistics.median(timed), 4),
        "mfu": round(tps * fpt / peak, 4) if peak else None,
        "peak_memory_gib": round((mem if mem is not None else m.process_rss_bytes()) / 2**30, 2),
        "memory_kind": "cuda max allocated" if mem is not None else "process max RSS",
        "attention_context": round(context, 1),
    }
    del result, model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="qwen3-0.6b,qwen3-1.7b")
    parser.add_argument("--seqs", default="4096,16384")
    parser.add_argument("--tokens-per-step", type=int, default=32768, help="micro-batch = this / seq (min 1)")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (kernel autotune, allocator)")
    parser.add_argument("--mean-doc", type=int, default=900, help="mean synthetic document length (tokens)")
    parser.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing (both engines)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="peak bf16 TFLOP/s for MFU (default: by GPU name)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"device: {device}; torch {torch.__version__}; flash-attn: {has_flash_attn()}; liger: {has_liger()}", flush=True)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else None
    rows = []
    for name in args.models.split(","):
        for seq in map(int, args.seqs.split(",")):
            micro = max(1, args.tokens_per_step // seq)
            for engine in ("baseline", "luth"):
                row = measure(name, seq, micro, args.steps, args.warmup, engine, min(args.mean_doc, seq), args.grad_ckpt, peak)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| model | seq | engine | micro-batch | attention | liger | tokens/s | MFU | peak mem GiB | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['model']} | {row['seq']} | {row['engine']} | {row['micro_batch']} | | | {row['error']} | | | |")
            continue
        base = next((r for r in rows if r["model"] == row["model"] and r["seq"] == row["seq"] and r["engine"] == "baseline" and "error" not in r), None)
        speedup = f"{row['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base else "-"
        mfu = f"{row['mfu'] * 100:.1f}%" if row["mfu"] is not None else "n/a"
        print(f"| {row['model']} | {row['seq']} | {row['engine']} | {row['micro_batch']} | {row['attn']} | {row['liger']} | "
              f"{row['tokens_per_s']:,.0f} | {mfu} | {row['peak_memory_gib']} | {speedup} |")
    if args.json:
        args.json.write_text(json.dumps({"device": device, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
