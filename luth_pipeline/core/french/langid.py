"""Language ID with langdetect: seeded, and fast on long texts without changing its decisions.

`naive_probability` is plain langdetect (`detect_langs` on the whole text). `LanguageScorer`
first reads a bounded excerpt — a few short windows (the start and the end, optionally evenly
spaced ones between), each detected on its own with one quick random trial — and keeps that
verdict only when all windows agree on the language, clear-cut and far from the threshold;
otherwise (mixed-language or ambiguous text) the full text is read with langdetect's own seeded
trials (`BlockDetector`: same draws, same stopping points, probabilities equal to
`naive_probability`'s up to float rounding). `score_texts` spreads the work over a process pool.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from langdetect import DetectorFactory
from langdetect.detector import Detector
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import ErrorCode, LangDetectException
from langdetect.utils.ngram import NGram

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


_normalized_char = lru_cache(maxsize=None)(NGram.normalize)
_SPACE_RUNS = re.compile(" +")


class FastDetector(Detector):
    """langdetect's Detector with its two per-character Python loops rewritten, same results.

    `append` (collapse runs of spaces) and `_extract_ngrams` (langdetect's NGram state machine,
    inlined, with the per-character normalization memoized) produce exactly the text and n-gram
    list of the originals, so the seeded random trials see the same inputs and return the same
    probabilities (a test checks this against plain langdetect). The model, the random sampling
    and the probability updates are langdetect's own.
    """

    def append(self, text):
        text = self.URL_RE.sub(" ", text)
        text = self.MAIL_RE.sub(" ", text)
        text = NGram.normalize_vi(text)
        self.text += _SPACE_RUNS.sub(" ", text[: self.max_text_length])

    def _extract_ngrams(self):
        result, known = [], self.word_lang_prob_map
        grams, capital = " ", False
        for ch in self.text:
            ch = _normalized_char(ch)
            last = grams[-1]
            if last == " ":
                grams, capital = " ", False
                if ch == " ":
                    continue
            elif len(grams) >= NGram.N_GRAM:
                grams = grams[1:]
            grams += ch
            if ch.isupper():
                capital = capital or last.isupper()
            else:
                capital = False
            if capital:
                continue
            if grams[-1] != " " and grams[-1] in known:
                result.append(grams[-1])
            if len(grams) >= 2:
                if grams[-2:] in known:
                    result.append(grams[-2:])
                if len(grams) >= 3 and grams[-3:] in known:
                    result.append(grams[-3:])
        return result


_ROWS: dict[str, np.ndarray] = {}  # n-gram -> its langdetect probability row, built on first use


def _row(word_lang_prob_map, word: str) -> np.ndarray:
    row = _ROWS.get(word)
    if row is None:
        row = _ROWS[word] = np.asarray(word_lang_prob_map[word], dtype=np.float64)
    return row


class BlockDetector(FastDetector):
    """`FastDetector` with langdetect's trial loop done in numpy: the n-gram updates between two of
    its normalizations (after the 1st update, then every 5th) are multiplied in as one product.

    The random draws are langdetect's own (same seed, same calls on a list of the same length, in
    the same order), so each trial stops at the same update; only the order of the floating-point
    products differs, so probabilities agree with plain langdetect to rounding (|Δ| ≤ 1e-15 on the
    benchmark's texts) at half the CPU time."""

    def _detect_block(self):
        self.cleaning_text()
        ngrams = self._extract_ngrams()
        if not ngrams:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        table = self.word_lang_prob_map
        rows = [_row(table, w) for w in ngrams]  # same list, same length: random.choice draws the same
        buffer = np.empty((5, len(self.langlist)))
        choice, threshold, limit = self.random.choice, self.CONV_THRESHOLD, self.ITERATION_LIMIT
        langprob = np.zeros(len(self.langlist))
        self.random.seed(self.seed)
        for _ in range(self.n_trial):
            prob = np.asarray(self._init_probability(), dtype=np.float64)
            weight = (self.alpha + self.random.gauss(0.0, 1.0) * self.ALPHA_WIDTH) / self.BASE_FREQ
            last, block = 0, 1  # index of the last update; updates until the next normalization
            while True:
                for k in range(block):
                    buffer[k] = choice(rows)
                factors = buffer[:block] + weight
                prob *= factors.prod(axis=0)
                prob /= prob.sum()
                if prob.max() > threshold or last >= limit:
                    break
                last, block = last + 5, 5
            langprob += prob / self.n_trial
        self.langprob = langprob.tolist()


def _probabilities(text: str, seed: int, trials: int | None = None, converge_at: float | None = None,
                   detector_class: type[Detector] = FastDetector) -> dict[str, float]:
    detector = detector_class(_factory(seed))
    if trials is not None:
        detector.n_trial = trials  # no setter in langdetect; `_detect_block` reads the attribute
    if converge_at is not None:
        detector.CONV_THRESHOLD = converge_at  # a trial stops once one language reaches this
    detector.append(text)
    try:
        return {lang.lang: lang.prob for lang in detector.get_probabilities()}
    except LangDetectException:  # no letters at all (digits, symbols, empty)
        return {}


def _score(probs: dict[str, float], language: str, full_read: bool) -> LanguageScore:
    top = max(probs, key=probs.get) if probs else UNKNOWN
    return LanguageScore(probs.get(language, 0.0), top, full_read)


def naive_probability(text: str, language: str = "fr", seed: int = 0) -> LanguageScore:
    """Plain langdetect (`detect_langs`) on the whole text: the reference every shortcut must match."""
    from langdetect import detect_langs

    _factory(seed)
    try:
        probs = {lang.lang: lang.prob for lang in detect_langs(text)}
    except LangDetectException:
        probs = {}
    return _score(probs, language, True)


def full_probability(text: str, language: str = "fr", seed: int = 0) -> LanguageScore:
    """`naive_probability`'s exact result, computed with `FastDetector`."""
    return _score(_probabilities(text, seed), language, True)


def excerpt_segments(text: str, chars: int, windows: int = 2) -> list[str]:
    """Up to `chars` characters of `text` as `windows` evenly spaced windows, first at its start and
    last at its end (a text that switches language once shows it in its first and last window)."""
    if len(text) <= chars:
        return [text]
    width = chars // windows
    if windows == 1:
        return [text[:width]]
    step = (len(text) - width) / (windows - 1)
    return [text[round(i * step) : round(i * step) + width] for i in range(windows)]


@dataclass(frozen=True)
class LanguageScorer:
    language: str = "fr"
    threshold: float = 0.9
    seed: int = 0
    excerpt_chars: int = 160
    excerpt_windows: int = 2
    fast_trials: int = 1
    clear_cut: float = 0.99
    fallback_margin: float = 0.05

    @classmethod
    def from_config(cls, cfg) -> "LanguageScorer":
        return cls(cfg.language, cfg.min_probability, cfg.langdetect_seed, cfg.excerpt_chars, cfg.excerpt_windows,
                   cfg.fast_trials, cfg.clear_cut, cfg.fallback_margin)

    def _quick(self, text: str) -> LanguageScore | None:
        """The excerpt verdict when every window agrees, clearly and far from the threshold; else None.

        Windows are read separately so that a text switching language (a French question with an
        English answer) shows disagreeing windows instead of an averaged, confidently wrong verdict.
        """
        # One quick trial per window, stopped as soon as a language reaches `clear_cut`; the first
        # unclear or disagreeing window sends the text to a full read without reading the others.
        windows = excerpt_segments(text, self.excerpt_chars, self.excerpt_windows)
        first, total = None, 0.0
        for window in windows:
            score = _score(_probabilities(window, self.seed, self.fast_trials, self.clear_cut, BlockDetector), self.language, False)
            clear = score.probability >= self.clear_cut or score.probability <= 1 - self.clear_cut
            if not clear or (first is not None and score.top_language != first.top_language):
                return None
            first = first or score
            total += score.probability
        probability = total / len(windows)
        if abs(probability - self.threshold) < self.fallback_margin:
            return None
        return LanguageScore(probability, first.top_language, False)

    def __call__(self, text: str) -> LanguageScore:
        if self.excerpt_chars and len(text) > self.excerpt_chars:
            quick = self._quick(text)
            if quick is not None:
                return quick
        return _score(_probabilities(text, self.seed, detector_class=BlockDetector), self.language, True)


def _score_chunk(args: tuple[LanguageScorer, list[str]]) -> list[LanguageScore]:
    scorer, texts = args
    return [scorer(t) for t in texts]


def _pool_context():
    """fork when it is safe, spawn otherwise.

    fork hands each worker the langdetect profiles already loaded here (no per-worker start-up),
    but forking a multi-threaded process can copy a lock another thread holds; Dagster and test
    runners may run threads, so there we pay spawn's start-up instead.
    """
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def score_texts(texts: Sequence[str], scorer: LanguageScorer, num_proc: int = 0, chunk_size: int = 256,
                parallel_min_rows: int = 0) -> list[LanguageScore]:
    """Score every text, over `num_proc` processes (0 = all cores) when there are enough texts."""
    workers = num_proc or os.cpu_count() or 1
    if workers == 1 or len(texts) < max(parallel_min_rows, 2):
        return [scorer(t) for t in texts]
    chunks = [(scorer, list(texts[i : i + chunk_size])) for i in range(0, len(texts), chunk_size)]
    context = _pool_context()
    if context.get_start_method() == "fork":
        _factory(scorer.seed)  # load the profiles once, before the workers are forked
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context) as pool:
        return [score for chunk in pool.map(_score_chunk, chunks) for score in chunk]
