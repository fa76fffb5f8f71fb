"""Language ID with langdetect: seeded, and fast on long texts without changing its decisions.

`naive_probability` is plain langdetect (`detect_langs` on the whole text). `LanguageScorer`
first reads a bounded excerpt (start, middle and end, so a text that switches language half-way
still shows both) with fewer random trials; when that verdict is clear-cut and far from the
threshold it is final, otherwise the full text is read exactly as `naive_probability` does.
`score_texts` spreads the work over a process pool.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from langdetect import DetectorFactory
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

UNKNOWN = "unknown"


@dataclass(frozen=True)
class LanguageScore:
    probability: float  # probability of the target language
    top_language: str  # most likely language (`unknown` when the text has no letters)
    full_read: bool  # whether the whole text was read (fallback or short text)


def _factory(seed: int):
    # langdetect re-seeds its RNG from the class attribute before every detection.
    DetectorFactory.seed = seed
    init_factory()
    from langdetect import detector_factory

    return detector_factory._factory


def _probabilities(text: str, seed: int, max_chars: int | None = None, trials: int | None = None) -> dict[str, float]:
    detector = _factory(seed).create()
    if max_chars is not None:
        detector.set_max_text_length(max_chars)
    if trials is not None:
        detector.n_trial = trials  # no setter in langdetect; the attribute is what `_detect_block` reads
    detector.append(text)
    try:
        return {lang.lang: lang.prob for lang in detector.get_probabilities()}
    except LangDetectException:  # no letters at all (digits, symbols, empty)
        return {}


def _score(probs: dict[str, float], language: str, full_read: bool) -> LanguageScore:
    top = max(probs, key=probs.get) if probs else UNKNOWN
    return LanguageScore(probs.get(language, 0.0), top, full_read)


def naive_probability(text: str, language: str = "fr", seed: int = 0) -> LanguageScore:
    """Plain langdetect on the whole text: the reference the fast path must agree with."""
    return _score(_probabilities(text, seed), language, True)


def excerpt(text: str, chars: int) -> str:
    """Up to `chars` characters taken from the start, middle and end of `text`."""
    if len(text) <= chars:
        return text
    third = chars // 3
    middle = (len(text) - third) // 2
    return " ".join((text[:third], text[middle : middle + third], text[len(text) - third :]))


@dataclass(frozen=True)
class LanguageScorer:
    language: str = "fr"
    threshold: float = 0.9
    seed: int = 0
    excerpt_chars: int = 300
    fast_trials: int = 2
    clear_cut: float = 0.99
    fallback_margin: float = 0.05

    def is_clear_cut(self, probability: float) -> bool:
        far_from_threshold = abs(probability - self.threshold) >= self.fallback_margin
        return far_from_threshold and (probability >= self.clear_cut or probability <= 1 - self.clear_cut)

    def __call__(self, text: str) -> LanguageScore:
        if self.excerpt_chars and len(text) > self.excerpt_chars:
            quick = _score(_probabilities(excerpt(text, self.excerpt_chars), self.seed, trials=self.fast_trials),
                           self.language, False)
            if self.is_clear_cut(quick.probability):
                return quick
        return naive_probability(text, self.language, self.seed)


def _score_chunk(args: tuple[LanguageScorer, list[str]]) -> list[LanguageScore]:
    scorer, texts = args
    return [scorer(t) for t in texts]


def score_texts(texts: Sequence[str], scorer: LanguageScorer, num_proc: int = 0, chunk_size: int = 256,
                parallel_min_rows: int = 0) -> list[LanguageScore]:
    """Score every text, over `num_proc` processes (0 = all cores) when there are enough texts."""
    workers = num_proc or os.cpu_count() or 1
    if workers == 1 or len(texts) < max(parallel_min_rows, 2):
        return [scorer(t) for t in texts]
    chunks = [(scorer, list(texts[i : i + chunk_size])) for i in range(0, len(texts), chunk_size)]
    # spawn, not fork: the caller (Dagster, a test runner) may hold threads and locks.
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [score for chunk in pool.map(_score_chunk, chunks) for score in chunk]
