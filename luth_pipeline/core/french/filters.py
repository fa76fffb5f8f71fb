"""The French filter as a chain of small steps, each with its own stats (datatrove style).

A row goes through the steps in order; the first step that rejects it records its reason and the
row leaves the chain (into the reject table), otherwise the step's name is appended to the row's
`filters_passed`. The chat schema and cheap checks run first, language ID next, deduplication last so that duplicates
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
from luth_pipeline.core.text.chat import Turns, chat_problem, conversation_text, storable_messages
from luth_pipeline.core.text.dedup import ExactDeduplicator, NearDeduplicator
from luth_pipeline.core.text.langid import LanguageIdentifier
from luth_pipeline.core.text.normalize import dedup_key

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


class ValidChat(Step):
    """The chat schema (core/text/chat.py): null or non-string content, unknown roles, no turns,
    empty or giant turns, no user or assistant turn are rejects with their reason."""

    name = "valid_chat"

    def judge(self, rows):
        out = []
        for row in rows:
            problem = chat_problem(row.get("messages"))
            if problem:
                row["messages"] = storable_messages(row.get("messages"))  # the rejects table shows what it held
            out.append(Rejection(problem.reason, problem.detail) if problem else None)
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
    """The per-turn rule: every natural-language turn or paragraph long enough to judge is French,
    short turns judged with the whole conversation (core/text/langid.py)."""

    name = "language"

    def __init__(self, identifier: LanguageIdentifier):
        self.identifier = identifier

    def judge(self, rows):
        out = []
        for row in rows:
            verdict = self.identifier.chat(row["messages"], row["_turns"])
            row.update(french_probability=verdict.probability, language=verdict.language,
                       langid_segments=len(verdict.segments))
            out.append(None if verdict.ok else Rejection("not_french", verdict.reason or ""))
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


def default_steps(cfg: FrenchFilterConfig) -> list[Step]:
    return [
        ValidChat(),
        Length(cfg.min_chars, cfg.max_chars),
        Language(LanguageIdentifier.from_config(cfg)),
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
        text = conversation_text(row.get("messages"), turns)  # tolerant: `valid_chat` rejects malformed rows
        live.append({**row, "num_chars": len(text), "filters_passed": [], "french_probability": None, "language": None,
                     "langid_segments": None, "_text": text, "_normalized": dedup_key(text), "_turns": turns})
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
