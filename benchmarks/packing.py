"""Packing efficiency and tokenization throughput of luth_sft_packed, against the usual baselines.

Efficiency = real tokens / token slots (a slot: one position of a batch row or a packed bin).
- pad-to-longest: no packing, random micro-batches padded to their longest document;
- greedy concatenation: documents appended in dataset order, a new bin when the next one does
  not fit (documents kept whole, like ours);
- ours: best-fit-decreasing (luth_pipeline.core.sft.packing).
On (1) the shipped fixture conversations tokenized with the tiny model, and (2) a synthetic
Luth-SFT-like length distribution: 570,623 documents, mean ≈ 593 tokens (338M / 570k, the
published card), log-normal tail, sequence length 16384 (upstream's).

Tokenization throughput (chat template + verified assistant-only labels): a naive per-row loop
vs batched calls vs `datasets.map(batched=True, num_proc=N)`.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/packing.py [--docs 570623] [--rows 4000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from luth_pipeline.core.sft.packing import best_fit_decreasing, next_fit, packing_efficiency, pad_to_longest_efficiency  # noqa: E402


def efficiencies(lengths: np.ndarray, capacity: int, batch_size: int) -> dict[str, tuple[float, float]]:
    """name → (efficiency, seconds)."""
    out = {}
    started = time.perf_counter()
    out["pad-to-longest (batch %d)" % batch_size] = (pad_to_longest_efficiency(lengths, batch_size, seed=0), time.perf_counter() - started)
    shuffled = lengths[np.random.default_rng(0).permutation(lengths.size)]
    started = time.perf_counter()
    greedy = next_fit(shuffled, capacity)
    out["greedy concatenation"] = (packing_efficiency(shuffled, greedy, capacity), time.perf_counter() - started)
    started = time.perf_counter()
    bfd = best_fit_decreasing(lengths, capacity)
    out["best-fit-decreasing (ours)"] = (packing_efficiency(lengths, bfd, capacity), time.perf_counter() - started)
    return out


def fixture_conversations() -> list[list[dict]]:
    import json

    from luth_pipeline.core.sft.normalize import RejectedRow, normalize_messages
    from luth_pipeline.demo_data import DEMO_DATA

    conversations = []
    for file in sorted((DEMO_DATA / "sources").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "messages" in row:
                raw = row["messages"]
            elif "prompt" in row:
                raw = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["accepted_completion"]}]
            else:
                raw = [{"role": "user", "content": row["inputs"]}, {"role": "assistant", "content": row["targets"]}]
            try:
                conversations.append(normalize_messages(raw))
            except RejectedRow:
                pass
    return conversations


def throughput(tokenizer, conversations, num_proc: int) -> dict[str, float]:
    import tempfile
    from pathlib import Path

    import pyarrow as pa

    from luth_pipeline.core.sft.tokenization import LabelSettings, tokenize_conversations, tokenize_dataset

    settings = LabelSettings(max_length=16384)
    ids = [f"r{i}" for i in range(len(conversations))]
    out = {}
    started = time.perf_counter()
    for row_id, conversation in zip(ids, conversations):  # naive: one row per call
        tokenize_conversations(tokenizer, {"id": [row_id], "messages": [conversation]}, settings)
    out["naive per-row loop"] = len(conversations) / (time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, len(conversations), 1000):
        tokenize_conversations(tokenizer, {"id": ids[start : start + 1000], "messages": conversations[start : start + 1000]}, settings)
    out["batched (1000 rows/call), 1 process"] = len(conversations) / (time.perf_counter() - started)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        table = pa.table({"id": ids, "messages": conversations})
        tokenize_dataset(tokenizer, table.to_batches(max_chunksize=500), settings, batch_size=500, num_proc=num_proc, cache_dir=Path(scratch))
    out[f"datasets.map batched, num_proc={num_proc}"] = len(conversations) / (time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=570_623)
    parser.add_argument("--rows", type=int, default=20_000, help="conversations for the throughput test")
    parser.add_argument("--num-proc", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")

    from transformers import AutoTokenizer

    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.models import resolve_base_model

    profile = load_profile("local")
    name, spec = next(iter(profile.base_models.items()))
    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(name, spec, profile.work_path))
    conversations = fixture_conversations()
    texts = tokenizer.apply_chat_template(conversations, tokenize=False, enable_thinking=False)
    fixture_lengths = np.array([len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]])
    print(f"\n## fixture set: {fixture_lengths.size} conversations, mean {fixture_lengths.mean():.0f} tokens ({name} tokenizer)")
    for capacity in (1024, 2048):
        print(f"sequence_len {capacity}:")
        for method, (eff, seconds) in efficiencies(fixture_lengths, capacity, 8).items():
            print(f"  {method:32s} {eff * 100:6.2f} %   ({seconds * 1000:.1f} ms)")

    rng = np.random.default_rng(0)
    sigma = 1.0
    mu = np.log(593) - sigma**2 / 2
    synthetic = np.clip(rng.lognormal(mu, sigma, size=args.docs).astype(np.int64), 16, 16_384)
    print(
        f"\n## synthetic Luth-SFT-like: {synthetic.size:,} documents, {synthetic.sum() / 1e6:.0f}M tokens, "
        f"mean {synthetic.mean():.0f}, p50 {np.median(synthetic):.0f}, p99 {np.percentile(synthetic, 99):.0f}, max {synthetic.max()}"
    )
    print("sequence_len 16384:")
    for method, (eff, seconds) in efficiencies(synthetic, 16_384, 8).items():
        print(f"  {method:32s} {eff * 100:7.3f} %   ({seconds:.2f} s)")

    rows = (conversations * (args.rows // len(conversations) + 1))[: args.rows]
    print(f"\n## tokenization throughput: {len(rows)} conversations, chat template + verified assistant labels")
    results = throughput(tokenizer, rows, args.num_proc)
    baseline = results["naive per-row loop"]
    for method, rate in results.items():
        print(f"  {method:40s} {rate:8.0f} rows/s   ×{rate / baseline:.2f}")


if __name__ == "__main__":
    main()
