"""French filter throughput vs the naive langdetect loop, on the same multilingual documents.

    .venv/bin/python benchmarks/french_filter.py [--docs 20000] [--chars 620] [--num-proc 0]

Documents (~620 chars) are composed from the hand-written sentences the source fixtures are made
of: mostly French, English/Spanish/German/Italian/Portuguese, French→other-language switches
(the hard case for any shortcut), and French code/maths answers. Both sides decide keep/drop with
the same seed and threshold; we report docs/s of each (wall clock), the speed-up, the CPU work
of each (CPU-seconds, robust to other load on the machine), and the share of identical decisions.
Our side includes its process-pool start-up. A second figure runs the whole filter
chain (empty turns, length, language ID, exact + MinHash dedup) on the same documents as rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import time

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

from luth_pipeline.core.french import FrenchFilterConfig, LanguageScorer, default_steps, run_filters, score_texts
from luth_pipeline_tests.fixtures.text_bank import FR_CODE, FR_MATH, FR_TOPICS, OTHER_LANGS


def _fill(rng: random.Random, sentences: list[str], chars: int) -> str:
    parts, size = [], 0
    while size < chars:
        sentence = rng.choice(sentences)
        parts.append(sentence)
        size += len(sentence) + 1
    return " ".join(parts)[:chars]


def make_documents(n: int, chars: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    french = [s for t in FR_TOPICS.values() for s in t["sentences"] + t["questions"]]
    others = {lang: bank["sentences"] + bank["questions"] for lang, bank in OTHER_LANGS.items()}
    code_math = [q + "\n" + a for q, a in FR_CODE + FR_MATH]
    docs = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.60:
            docs.append(_fill(rng, french, chars))
        elif roll < 0.87:
            docs.append(_fill(rng, others[rng.choice(sorted(others))], chars))
        elif roll < 0.97:  # switches language somewhere between 20% and 80% of the text
            cut = int(chars * rng.uniform(0.2, 0.8))
            first, second = (french, others[rng.choice(sorted(others))])[:: rng.choice([1, -1])]
            docs.append((_fill(rng, first, cut) + " " + _fill(rng, second, chars))[:chars])
        else:
            docs.append((rng.choice(code_math) * 3)[:chars])
    return docs


def naive_decisions(docs: list[str], language: str, threshold: float, seed: int) -> list[bool]:
    DetectorFactory.seed = seed
    out = []
    for doc in docs:
        try:
            probability = next((l.prob for l in detect_langs(doc) if l.lang == language), 0.0)
        except LangDetectException:
            probability = 0.0
        out.append(probability >= threshold)
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--chars", type=int, default=620)
    parser.add_argument("--num-proc", type=int, default=0, help="worker processes (0 = all cores)")
    parser.add_argument("--skip-chain", action="store_true", help="skip the whole-filter-chain figure")
    args = parser.parse_args()
    cfg = FrenchFilterConfig()
    docs = make_documents(args.docs, args.chars)
    print(f"{len(docs)} documents, mean {sum(map(len, docs)) / len(docs):.0f} chars; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)

    started, cpu = time.perf_counter(), time.process_time()
    naive = naive_decisions(docs, cfg.language, cfg.min_probability, cfg.langdetect_seed)
    naive_s, naive_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"naive langdetect loop: {len(docs) / naive_s:.0f} docs/s ({naive_s:.1f} s, {naive_cpu:.1f} CPU-s)", flush=True)

    scorer = LanguageScorer.from_config(cfg)
    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    scores = score_texts(docs, scorer, args.num_proc, cfg.chunk_size, parallel_min_rows=0)
    ours_s = time.perf_counter() - started
    # CPU seconds of this process and of the (finished) pool workers: the work done, whatever the load
    ours_cpu = time.process_time() - cpu + _children_cpu() - children
    ours = [s.probability >= cfg.min_probability for s in scores]
    identical = sum(a == b for a, b in zip(naive, ours, strict=True)) / len(docs)
    full_reads = sum(s.full_read for s in scores) / len(docs)
    print(f"our language ID: {len(docs) / ours_s:.0f} docs/s ({ours_s:.1f} s), speed-up {naive_s / ours_s:.2f}x, "
          f"identical decisions {identical:.4%}, full-text fallbacks {full_reads:.1%}; "
          f"{ours_cpu:.1f} CPU-s (CPU work {naive_cpu / ours_cpu:.2f}x less)", flush=True)

    result = {"docs": len(docs), "chars": args.chars, "cores": os.cpu_count(), "machine": platform.platform(),
              "naive_docs_per_s": len(docs) / naive_s, "ours_docs_per_s": len(docs) / ours_s,
              "speedup": naive_s / ours_s, "naive_cpu_s": naive_cpu, "ours_cpu_s": ours_cpu,
              "cpu_work_ratio": naive_cpu / ours_cpu, "identical_decisions": identical, "full_read_share": full_reads,
              "kept_naive": sum(naive), "kept_ours": sum(ours)}
    if not args.skip_chain:
        rows = [{"id": f"bench/{i}", "messages": [{"role": "user", "content": "Question"}, {"role": "assistant", "content": d}],
                 "source": "bench", "source_id": str(i), "parent_asset": None, "parent_id": None} for i, d in enumerate(docs)]
        started = time.perf_counter()
        chain = run_filters(rows, default_steps(cfg.model_copy(update={"parallel_min_rows": 0}), args.num_proc), "assistant")
        chain_s = time.perf_counter() - started
        result["chain_docs_per_s"] = len(docs) / chain_s
        result["chain_kept"] = len(chain.kept)
        print(f"whole filter chain: {len(docs) / chain_s:.0f} docs/s ({chain_s:.1f} s); kept {len(chain.kept)}; "
              f"rejected {chain.reasons}", flush=True)
    result["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
