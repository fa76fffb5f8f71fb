"""The anomaly filter: each check returns a reason (str) when an exercise must be rejected.

Checks run in a fixed order and an exercise is rejected for the first failing one, so the
reject table's `reason` column counts cleanly per check (`check: detail`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from pylatexenc.latexwalker import LatexWalker, LatexWalkerError

from luth_pipeline.core.scholar.config import FilterConfig
from luth_pipeline.core.text.dedup import ExactDeduplicator, NearDeduplicator
from luth_pipeline.core.text.langid import LanguageIdentifier
from luth_pipeline.core.text.normalize import dedup_key
from luth_pipeline.core.text.prose import letters, prose

_CODE = re.compile(r"```.*?```|`[^`]*`", re.DOTALL)
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.DOTALL)


def _unescaped_dollars(text: str) -> int:
    return len(re.findall(r"(?<!\\)\$", _CODE.sub(" ", text)))


def _brace_balance(text: str) -> int | None:
    """Position of the first unbalanced brace in LaTeX (escaped `\\{` ignored), else None."""
    depth = 0
    for match in re.finditer(r"(?<!\\)[{}]", text):
        depth += 1 if match.group() == "{" else -1
        if depth < 0:
            return match.start()
    return None if depth == 0 else len(text)


def latex_problem(text: str) -> str | None:
    """Why the LaTeX in `text` is broken: odd `$`, unbalanced braces, or a pylatexenc parse error."""
    body = _CODE.sub(" ", text)
    if _unescaped_dollars(body) % 2:
        return "unbalanced $: an odd number of math delimiters"
    for formula in _MATH.findall(body):
        position = _brace_balance(formula)
        if position is not None:
            return f"unbalanced braces in {formula[:60]!r}"
        try:
            # A strict parse: an environment never closed or a group cut short raises here.
            LatexWalker(formula, tolerant_parsing=False).get_latex_nodes()
        except LatexWalkerError as exc:
            return f"LaTeX does not parse in {formula[:60]!r}: {str(exc).splitlines()[0]}"
    return None


@cache
def _french() -> LanguageIdentifier:
    return LanguageIdentifier(language="fr")


def french_problem(text: str, min_probability: float) -> str | None:
    """The shared per-turn rule (core/text/langid.py) on one field: every paragraph with enough prose
    must be French. Formulas, code and numbers are not read ("Calculer f(0), f(1) et f(2)." is French)."""
    identifier = _french()
    if letters(prose(text)) < identifier.min_letters:
        return None  # mostly formulas/code: too little prose to judge, keep it
    weakest = min(identifier.segments([{"role": "assistant", "content": text}]), key=lambda s: s.probability)
    if weakest.probability < min_probability:
        return f"not French: {weakest.where} reads as {weakest.language}, fr {weakest.probability:.2f} < {min_probability}"
    return None


@cache
def _figure_regex(patterns: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def figure_problem(question: str, context: str, flagged: bool, patterns: list[str]) -> str | None:
    if flagged:
        return "needs a figure: the refinement model flagged it"
    match = _figure_regex(tuple(patterns)).search(f"{question}\n{context}")
    return f"needs a figure: mentions {match.group(0)!r}" if match else None


def _tokens(text: str) -> set[str]:
    return set(dedup_key(text, fold_accents=True).split())


MIN_RESTATEMENT_WORDS = 4


def restatement_problem(question: str, answer: str, threshold: float) -> str | None:
    q, a = _tokens(question), _tokens(answer)
    if len(a) < MIN_RESTATEMENT_WORDS:
        return None  # "Vrai.", "b) 3": a short answer may well reuse the question's words
    # Share of the answer's words already in the question: a restatement adds almost nothing.
    overlap = len(q & a) / len(a)
    if overlap >= threshold:
        return f"answer restates the question ({overlap:.0%} of its words are the question's)"
    return None


class DuplicateIndex:
    """Exact (normalized, accents folded) and near (MinHash on word 3-shingles) duplicates of
    question + answer, with the shared deduplicators (core/text/dedup.py)."""

    def __init__(self, threshold: float):
        self.exact = ExactDeduplicator()
        self.near = NearDeduplicator(threshold=threshold, num_perm=128, shingle_size=3, seed=1)

    def check_and_add(self, row_id: str, question: str, answer: str) -> str | None:
        key = dedup_key(f"{question}\n{answer}", fold_accents=True)
        first = self.exact.duplicate_of(row_id, key)
        if first:
            return f"duplicate of {first}"
        near, score = self.near.duplicate_of(row_id, key)
        if near:
            return f"near-duplicate of {near} (estimated Jaccard {score:.2f})"
        return None


def check_exercise(row: dict, config: FilterConfig, duplicates: DuplicateIndex) -> str | None:
    """The first reason to reject a refined exercise, or None when it passes every check."""
    # A null field (a reply that left it out) is an empty one: rejected with its reason, never a crash.
    question, context, answer = ((row.get(field) or "").strip() for field in ("question", "context", "answer"))
    checks: list[tuple[str, Callable[[], str | None]]] = [
        ("empty", lambda: "no question" if not question else None),
        ("answerless", lambda: "no answer in the correction" if len(answer) < config.min_answer_chars else None),
        ("latex", lambda: latex_problem(question) or latex_problem(context) or latex_problem(answer)),
        ("language", lambda: french_problem(question, config.min_french_probability)
         or french_problem(answer, config.min_french_probability)),
        ("figure", lambda: figure_problem(question, context, row.get("needs_figure", False), config.figure_patterns)),
        ("restatement", lambda: restatement_problem(question, answer, config.restatement_similarity)),
        ("duplicate", lambda: duplicates.check_and_add(row["id"], question, answer)),
    ]
    for name, check in checks:
        reason = check()
        if reason:
            return f"{name}: {reason}"
    return None


CHECK_NAMES = ("empty", "answerless", "latex", "language", "figure", "restatement", "duplicate")
