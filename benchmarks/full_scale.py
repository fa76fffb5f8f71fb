"""Full-scale data path on one host: `luth_sft` → `luth_sft_packed` and their blocking checks on a
synthetic Luth-SFT-sized input, with wall time, CPU time and peak RSS per stage.

Input (deterministic, seeded): the 7 upstream splits at the published Luth-SFT sizes (570,623
conversations in all) × `--scale`, written as the chat tables the mixture reads
(`scholar_exercises`, `french_samples[<source>]`, `tulu_answers_fr`). Conversations are 1–3
user/assistant exchanges (10 % with a system turn) of French words drawn from the shipped
fixtures; their lengths follow a log-normal law calibrated on the tiny tokenizer so that the full
size has ≈ 593 tokens per conversation (338M / 570,623, the published card) — ≈ 340M tokens.

The run uses the `local` profile (tiny tokenizer, fixture eval sets for decontamination) with
upstream's packing (`sequence_len` 16384, over-length rows dropped) and calls the same functions
the assets and checks call. Each scale runs in its own process, so each peak RSS is its own.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/full_scale.py --scales 0.01 0.05 0.2
    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/full_scale.py --scales 1   # ≈ 570k rows
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

# Published Luth-SFT split sizes (kurakurai/luth-sft card) and where the mixture reads each split.
SPLITS = {
    "luth_scholar": (30_282, "scholar_exercises", None, "scholar"),
    "luth_smoltalk2": (50_474, "french_samples", "smoltalk2", "smoltalk2"),
    "luth_croissantllm": (13_872, "french_samples", "croissantllm", "croissantllm"),
    "luth_aya_dataset": (1_422, "french_samples", "aya_dataset", "aya_dataset"),
    "luth_tulu3_persona_math": (47_440, "tulu_answers_fr", None, "tulu3_persona_math"),
    "luth_openhermes": (406_516, "french_samples", "openhermes_fr", "openhermes_fr"),
    "luth_tulu3_persona_instruct": (20_617, "tulu_answers_fr", None, "tulu3_persona_instruct"),
}
MEAN_TOKENS = 593  # 338M tokens / 570,623 conversations
SEQUENCE_LEN = 16_384
FIXTURES = Path(__file__).resolve().parents[1] / "luth_pipeline" / "demo_data" / "sources"


class PeakRSS:
    """Peak resident memory of this process and its children while a block runs (/proc sampled
    every 50 ms): `peak` = VmRSS (includes pages of memory-mapped files, which the kernel can
    drop), `peak_anon` = RssAnon (the process's own allocations)."""

    def __init__(self):
        self.peak = self.peak_anon = 0
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> tuple[int, int]:
        total = anon = 0
        for pid in [os.getpid(), *_children(os.getpid())]:
            try:
                with open(f"/proc/{pid}/status") as status:
                    fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in status if line.startswith(("VmRSS:", "RssAnon:"))}
                total, anon = total + fields.get("VmRSS", 0), anon + fields.get("RssAnon", 0)
            except OSError:
                pass
        return total, anon

    def _update(self):
        total, anon = self._rss()
        self.peak, self.peak_anon = max(self.peak, total), max(self.peak_anon, anon)

    def _sample(self):
        while not self._stop.wait(0.05):
            self._update()

    def __enter__(self):
        self._update()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._update()


def settled_rss(timeout_s: float = 30.0) -> int:
    """VmRSS once it stops falling: polars' and Arrow's allocators hand freed memory back to the OS
    over seconds, so read at once, a stage's start (and peak) would include the previous stage's
    freed memory (the scale-1 run of 2026-12-01 showed it: `luth_sft checks` peaked at its start)."""
    previous, deadline = PeakRSS._rss()[0], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = PeakRSS._rss()[0]
        if current > previous - 2**20:  # fell by less than 1 MB in a second
            return current
        previous = current
    return previous


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            direct = [int(p) for p in handle.read().split()]
    except OSError:
        return []
    return direct + [c for p in direct for c in _children(p)]


def french_words() -> list[str]:
    words: set[str] = set()
    for file in sorted(FIXTURES.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for message in row.get("messages") or []:
                if isinstance(message.get("content"), str):
                    words.update(w for w in message["content"].split() if w.isalpha())
    return sorted(words)


def conversations(rng: np.random.Generator, words: list[str], n: int, words_per_conversation: np.ndarray) -> list[list[dict]]:
    """`n` conversations of about `words_per_conversation[i]` words: 1–3 exchanges, a fifth of each
    exchange's words in the prompt and the rest in the answer (answers are the long part)."""
    out = []
    for total in words_per_conversation[:n].tolist():
        exchanges = int(rng.integers(1, 4))
        messages = [{"role": "system", "content": "Vous êtes un assistant utile."}] if rng.random() < 0.1 else []
        for words_in_exchange in (rng.dirichlet(np.ones(exchanges)) * total).tolist():
            for role, share in (("user", 0.2), ("assistant", 0.8)):
                picked = rng.integers(0, len(words), max(1, round(words_in_exchange * share))).tolist()
                messages.append({"role": role, "content": " ".join(map(words.__getitem__, picked)).capitalize() + "."})
        out.append(messages)
    return out


def tokens_per_word(tokenizer, words: list[str]) -> float:
    rng = np.random.default_rng(0)
    sample = conversations(rng, words, 200, np.full(200, 400))
    texts = tokenizer.apply_chat_template(sample, tokenize=False, enable_thinking=False)
    tokens = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    return tokens / (200 * 400)


def write_inputs(store, scale: float, tokenizer, seed: int) -> dict[str, int]:
    import pyarrow as pa

    words = french_words()
    ratio = tokens_per_word(tokenizer, words)
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    schema = pa.schema([("id", pa.string()), ("messages", pa.list_(message)), ("source", pa.string()), ("source_id", pa.string()),
                        ("parent_asset", pa.string()), ("parent_id", pa.string())])
    sizes = {}
    tables: dict[tuple[str, str | None], list] = {}
    for offset, (split, (published, asset, partition, source)) in enumerate(SPLITS.items()):
        n = max(1, round(published * scale))
        sizes[split] = n
        tables.setdefault((asset, partition), []).append((source, n, seed + offset))
    sigma = 1.0  # log-normal tail like chat data (p99 ≈ 6 × the median)
    mu = np.log(MEAN_TOKENS / ratio) - sigma**2 / 2
    for (asset, partition), parts in tables.items():
        with store.writer(asset, partition, "data", schema) as sink:
            for source, n, part_seed in parts:
                rng = np.random.default_rng(part_seed)
                lengths = np.clip(rng.lognormal(mu, sigma, n), 8, SEQUENCE_LEN / ratio * 1.05).astype(np.int64)
                for start in range(0, n, 10_000):
                    count = min(10_000, n - start)
                    ids = [str(i) for i in range(start, start + count)]
                    sink.write_table(pa.table({
                        "id": [f"{asset}/{source}/{i}" for i in ids],
                        "messages": conversations(rng, words, count, lengths[start : start + count]),
                        "source": [source] * count,
                        "source_id": ids,
                        "parent_asset": ["raw_multilingual_dumps"] * count,
                        "parent_id": [f"raw/{source}/{i}" for i in ids],
                    }, schema=schema))
    return sizes


def naive_packed_checks(table, capacity: int) -> int:
    """Baseline: the packed checks as they were before streaming (git 70fa007), every bin turned
    into Python lists at once. Returns the number of problems."""
    from luth_pipeline.core.sft.packing import IGNORE_INDEX

    problems = 0
    for labels, seq_lens in zip(table["labels"].to_list(), table["seq_lens"].to_list()):
        start = 0
        for length in seq_lens:
            problems += all(label == IGNORE_INDEX for label in labels[start : start + length])
            start += length
    for positions, seq_lens in zip(table["position_ids"].to_list(), table["seq_lens"].to_list()):
        problems += positions != [p for length in seq_lens for p in range(length)]
    problems += int(table["doc_ids"].explode().is_duplicated().sum())
    return problems + sum(n > capacity for n in table["input_ids"].list.len().to_list())


def run_one(scale: float, seed: int, num_proc: int, baseline_max_scale: float) -> dict:
    import polars as pl

    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.sft import build as sft
    from luth_pipeline.core.sft import checks
    from luth_pipeline.core.storage import DatasetStore

    profile = load_profile("local")
    packing = profile.sft.packing.model_copy(update={"sequence_len": SEQUENCE_LEN, "over_length": "drop", "batch_size": 1000, "num_proc": num_proc})
    profile = profile.model_copy(update={"sft": profile.sft.model_copy(update={"packing": packing}), "num_proc": num_proc})
    model = next(iter(profile.base_models))
    stages: dict[str, dict] = {}

    def measure(name: str, function):
        # Freed memory back to the OS first, so each stage's peak is its own, not the previous one's heap.
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        start_rss = settled_rss()
        cpu = time.process_time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with PeakRSS() as rss:
            value = function()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stages[name] = {
            "wall_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(time.process_time() - cpu + (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime), 1),
            "peak_rss_mb": round(rss.peak / 2**20),
            "peak_anon_mb": round(rss.peak_anon / 2**20),
            "above_start_mb": round((rss.peak - start_rss) / 2**20),
        }
        print(f"  {name}: {stages[name]}", flush=True)
        return value

    with tempfile.TemporaryDirectory(prefix="luth_full_scale_") as root:
        store = DatasetStore(root)
        tokenizer = sft.load_tokenizer(profile, model)
        sizes = measure("generate inputs", lambda: write_inputs(store, scale, tokenizer, seed))
        started = time.perf_counter()

        def log(message: str) -> None:  # progress of a long run, with the elapsed time and the resident set
            print(f"    [{time.perf_counter() - started:7.0f} s, RSS {PeakRSS._rss()[0] / 2**20:,.0f} MB] {message}", flush=True)

        build = measure("luth_sft", lambda: sft.build_luth_sft(profile, store, log=log))
        rows = sum(counts["final"] for counts in build.mixture.split_stats.values())
        tokens = sum(stats.total for stats in build.token_stats.values())
        del build

        def sft_checks():
            report = store.read("luth_sft", None, "decontamination")
            problems, _ = checks.decontamination_problems(profile, report, checks.sft_batches(store, ["id", "messages"]))
            problems += checks.sft_schema_problems(checks.sft_batches(store))
            return problems + checks.hf_folder_problems(store, checks.sft_batches(store, ["split"]))

        problems = measure("luth_sft checks", sft_checks)
        packed = measure("luth_sft_packed", lambda: sft.build_packed(profile, store, model, log=log))
        # The asset's `tokens_per_second`: tokens of the kept documents / wall seconds of tokenization.
        tokenized = int(packed.documents.filter(~pl.col("status").str.starts_with("dropped"))["n_tokens"].sum() or 0)
        print(f"  tokenization: {packed.tokenize_seconds:.1f} s wall, {tokenized / packed.tokenize_seconds:,.0f} tokens/s", flush=True)

        def packed_checks():
            def batches():
                return store.iter_batches(sft.PACKED_ASSET, model, "data", batch_size=checks.PACKED_BATCH_ROWS)

            return checks.documents_without_trainable_tokens(batches()) + checks.packed_schema_problems(batches(), SEQUENCE_LEN)

        packed_problems = measure("luth_sft_packed checks", packed_checks)
        if scale <= baseline_max_scale:
            measure("baseline: packed checks on Python lists", lambda: naive_packed_checks(store.read(sft.PACKED_ASSET, model, "data"), SEQUENCE_LEN))
        return {
            "scale": scale,
            "input_rows": sum(sizes.values()),
            "rows": rows,
            "tokens": tokens,
            "bins": packed.bins,
            "packed_tokens": packed.tokens,
            "efficiency": round(packed.efficiency, 5),
            "tokenize_wall_s": round(packed.tokenize_seconds, 1),
            "tokens_per_s": round(tokenized / packed.tokenize_seconds) if packed.tokenize_seconds else 0,
            "check_problems": len(problems) + len(packed_problems),
            "stages": stages,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_rss_children_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.05], help="fractions of the published size (1 = 570,623 rows)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, default=1, help="tokenization worker processes (sft.packing.num_proc)")
    parser.add_argument("--baseline-max-scale", type=float, default=0.05, help="run the list-based baseline checks up to this scale")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: run one scale, print JSON
    args = parser.parse_args()
    if args.one:
        result = run_one(args.scales[0], args.seed, args.num_proc, args.baseline_max_scale)
        print("RESULT " + json.dumps(result), flush=True)
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), python {platform.python_version()}")
    results = []
    for scale in args.scales:
        load_before = os.getloadavg()
        print(f"scale {scale}: load average before {load_before[0]:.2f}", flush=True)
        errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: progress bars cannot fill it and block the child
        # Stage lines are passed on as they come: a long run shows its finished stages while it goes.
        child = subprocess.Popen(
            [sys.executable, __file__, "--one", "--scales", str(scale), "--seed", str(args.seed), "--num-proc", str(args.num_proc),
             "--baseline-max-scale", str(args.baseline_max_scale)],
            stdout=subprocess.PIPE, stderr=errors, text=True,
        )
        result = None
        for line in child.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[7:])
            else:
                print(line, end="", flush=True)
        if child.wait() or result is None:
            errors.seek(0)
            sys.exit(f"scale {scale} failed:\n{errors.read()[-4000:]}")
        result["load_before"], result["load_after"] = round(load_before[0], 2), round(os.getloadavg()[0], 2)
        results.append(result)
    print("\n| scale | rows | tokens (luth_sft) | bins | stage | wall s | CPU s | peak RSS MB | of which anonymous | above the stage's start |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        for name, s in r["stages"].items():
            print(f"| {r['scale']:g} | {r['rows']:,} | {r['tokens']:,} | {r['bins']:,} | {name} | {s['wall_s']} | {s['cpu_s']} | {s['peak_rss_mb']:,} | {s['peak_anon_mb']:,} | {s['above_start_mb']:,} |")
    print("\n| scale | rows | total wall s | total CPU s | s per 1k rows | peak RSS MB (process) | check problems | tokenization tokens/s (wall) | load avg before → after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        ours = {n: s for n, s in r["stages"].items() if n != "generate inputs" and not n.startswith("baseline")}
        wall, cpu = sum(s["wall_s"] for s in ours.values()), sum(s["cpu_s"] for s in ours.values())
        print(f"| {r['scale']:g} | {r['rows']:,} | {wall:.0f} | {cpu:.0f} | {1000 * wall / max(r['rows'], 1):.2f} | {r['peak_rss_mb']:,} | {r['check_problems']} | {r['tokens_per_s']:,} | {r['load_before']} → {r['load_after']} |")


if __name__ == "__main__":
    main()
