"""The French filter as a chain of small steps, each with its own stats (datatrove style).

A row goes through the steps in order; the first step that rejects it records its reason and the
row leaves the chain (into the reject table), otherwise the step's name is appended to the row's
`filters_passed`. Cheap checks run first, language ID next, deduplication last so that duplicates
are judged among French rows only.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from luth_pipeline.core.french.config import FrenchFilterConfig
from luth_pipeline.core.french.dedup import ExactDeduplicator, NearDeduplicator
from luth_pipeline.core.french.langid import LanguageScorer, score_texts
from luth_pipeline.core.french.text import Turns, conversation_text, normalize

log = logging.getLogger(__name__)


@dataclass
class Rejection:
    reason: str
    detail: str
    duplicate_of: str | None = None


@dataclass
class StepStats:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Step:
    """One filter: `judge` returns a Rejection per row (None = passes), in row order."""

    name = "step"

    def judge(self, rows: Sequence[dict[str, Any]]) -> list[Rejection | None]:
        raise NotImplementedError


class NonEmptyTurns(Step):
    name = "non_empty_turns"

    def judge(self, rows):
        out = []
        for row in rows:
            roles = [m["role"] for m in row["messages"]]
            empty = [i for i, m in enumerate(row["messages"]) if not m["content"].strip()]
            if empty:
                out.append(Rejection("empty_turn", f"turn(s) {empty} have no text"))
            elif "user" not in roles or "assistant" not in roles:
                out.append(Rejection("missing_turn", f"roles {roles}: needs a user and an assistant turn"))
            else:
                out.append(None)
        return out


class Length(Step):
    name = "length"

    def __init__(self, min_chars: int, max_chars: int):
        self.min_chars, self.max_chars = min_chars, max_chars

    def judge(self, rows):
        out = []
        for row in rows:
            n = len(row["_text"])
            if n < self.min_chars:
                out.append(Rejection("too_short", f"{n} chars < min_chars {self.min_chars}"))
            elif n > self.max_chars:
                out.append(Rejection("too_long", f"{n} chars > max_chars {self.max_chars}"))
            else:
                out.append(None)
        return out


class Language(Step):
    name = "language"

    def __init__(self, scorer: LanguageScorer, num_proc: int, chunk_size: int, parallel_min_rows: int):
        self.scorer, self.num_proc, self.chunk_size, self.parallel_min_rows = scorer, num_proc, chunk_size, parallel_min_rows

    def judge(self, rows):
        scores = score_texts([r["_text"] for r in rows], self.scorer, self.num_proc, self.chunk_size, self.parallel_min_rows)
        out = []
        for row, score in zip(rows, scores, strict=True):
            row.update(french_probability=score.probability, language=score.top_language, langid_full_read=score.full_read)
            if score.probability >= self.scorer.threshold:
                out.append(None)
            else:
                out.append(Rejection("not_french", f"{self.scorer.language} probability {score.probability:.3f} "
                                                   f"< {self.scorer.threshold} (detected {score.top_language})"))
        return out


class ExactDedup(Step):
    name = "exact_dedup"

    def judge(self, rows):
        dedup = ExactDeduplicator()
        out = []
        for row in rows:
            first = dedup.duplicate_of(row["id"], row["_normalized"])
            out.append(Rejection("exact_duplicate", f"same normalized text as {first}", first) if first else None)
        return out


class NearDedup(Step):
    name = "near_dedup"

    def __init__(self, threshold: float, num_perm: int, shingle_size: int, seed: int):
        self.args = (threshold, num_perm, shingle_size, seed)

    def judge(self, rows):
        dedup = NearDeduplicator(*self.args)
        out = []
        for row in rows:
            first, score = dedup.duplicate_of(row["id"], row["_normalized"])
            out.append(Rejection("near_duplicate", f"estimated Jaccard {score:.2f} with {first}", first) if first else None)
        return out


def default_steps(cfg: FrenchFilterConfig, num_proc: int = 0) -> list[Step]:
    scorer = LanguageScorer.from_config(cfg)
    return [
        NonEmptyTurns(),
        Length(cfg.min_chars, cfg.max_chars),
        Language(scorer, num_proc, cfg.chunk_size, cfg.parallel_min_rows),
        ExactDedup(),
        NearDedup(cfg.minhash_threshold, cfg.minhash_num_perm, cfg.shingle_size, cfg.langdetect_seed + 1),
    ]


@dataclass
class FilterResult:
    kept: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    stats: list[StepStats]

    @property
    def rows_in(self) -> int:
        return len(self.kept) + len(self.rejected)

    @property
    def reasons(self) -> dict[str, int]:
        return dict(Counter(r["reason"] for r in self.rejected))

    @property
    def languages(self) -> dict[str, int]:
        """Detected language of every row language ID read (kept or rejected after it)."""
        return dict(Counter(r["language"] for r in self.kept + self.rejected if r.get("language")))


def run_filters(rows: Sequence[dict[str, Any]], steps: Sequence[Step], turns: Turns = "all",
                logger: logging.Logger | None = None) -> FilterResult:
    """Run `steps` over chat rows; returns kept rows, rejected rows (with reason) and per-step stats.

    Each step's result is logged to `logger` (e.g. Dagster's `context.log`), else this module's.
    """
    logger = logger or log
    live = []
    for row in rows:
        text = conversation_text(row["messages"], turns)
        live.append({**row, "num_chars": len(text), "filters_passed": [], "french_probability": None, "language": None,
                     "langid_full_read": None, "_text": text, "_normalized": normalize(text)})
    rejected, stats = [], []
    for step in steps:
        started = time.perf_counter()
        verdicts = step.judge(live)
        survivors, counts = [], Counter()
        for row, verdict in zip(live, verdicts, strict=True):
            if verdict is None:
                row["filters_passed"].append(step.name)
                survivors.append(row)
            else:
                counts[verdict.reason] += 1
                rejected.append({**row, "reason": verdict.reason, "reason_detail": verdict.detail,
                                 "duplicate_of": verdict.duplicate_of})
        stats.append(StepStats(step.name, len(live), len(survivors), dict(counts), time.perf_counter() - started))
        logger.info("%s: %d -> %d rows in %.1f s (%s)", step.name, len(live), len(survivors), stats[-1].seconds,
                    dict(counts) or "none rejected")
        live = survivors
    strip = lambda r: {k: v for k, v in r.items() if not k.startswith("_")}  # noqa: E731
    return FilterResult([strip(r) for r in live], [strip(r) for r in rejected], stats)
