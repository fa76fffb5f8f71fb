"""The anomaly filter: each check returns a reason (str) when an exercise must be rejected.

Checks run in a fixed order and an exercise is rejected for the first failing one, so the
reject table's `reason` column counts cleanly per check (`check: detail`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache

from typing import TYPE_CHECKING

from langdetect import DetectorFactory, LangDetectException, detect_langs
from pylatexenc.latexwalker import LatexWalker, LatexWalkerError

from luth_pipeline.core.scholar.config import FilterConfig

if TYPE_CHECKING:  # datasketch (and SciPy under it) loads when exercises are filtered, not with the definitions
    from datasketch import MinHash

DetectorFactory.seed = 0  # langdetect is random by default; the filter must be reproducible

_CODE = re.compile(r"```.*?```|`[^`]*`", re.DOTALL)
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$]*\$", re.DOTALL)
_WORD = re.compile(r"\w+", re.UNICODE)


def _prose(text: str) -> str:
    """Text without code and formulas: what a language detector should look at."""
    return _MATH.sub(" ", _CODE.sub(" ", text))


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


def french_problem(text: str, min_probability: float) -> str | None:
    prose = _prose(text)
    if len(_WORD.findall(prose)) < 3:
        return None  # mostly formulas/code: too little prose to judge, keep it
    try:
        langs = detect_langs(prose)
    except LangDetectException:
        return None
    french = next((l.prob for l in langs if l.lang == "fr"), 0.0)
    if french < min_probability:
        top = langs[0]
        return f"not French: langdetect says {top.lang} ({top.prob:.2f}), fr {french:.2f} < {min_probability}"
    return None


@cache
def _figure_regex(patterns: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def figure_problem(question: str, context: str, flagged: bool, patterns: list[str]) -> str | None:
    if flagged:
        return "needs a figure: the refinement model flagged it"
    match = _figure_regex(tuple(patterns)).search(f"{question}\n{context}")
    return f"needs a figure: mentions {match.group(0)!r}" if match else None


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(_normalize(text)))


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


def _minhash(text: str, num_perm: int = 128) -> MinHash:
    from datasketch import MinHash

    words = _WORD.findall(_normalize(text))
    shingles = {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))}
    mh = MinHash(num_perm=num_perm, seed=1)
    for shingle in shingles:
        mh.update(shingle.encode("utf-8"))
    return mh


class DuplicateIndex:
    """Exact (normalized) and near (MinHash LSH) duplicates of question + answer."""

    def __init__(self, threshold: float):
        from datasketch import MinHashLSH

        self.lsh = MinHashLSH(threshold=threshold, num_perm=128)
        self.exact: dict[str, str] = {}

    def check_and_add(self, row_id: str, question: str, answer: str) -> str | None:
        text = f"{question}\n{answer}"
        key = " ".join(_WORD.findall(_normalize(text)))
        if key in self.exact:
            return f"duplicate of {self.exact[key]}"
        mh = _minhash(text)
        near = self.lsh.query(mh)
        if near:
            return f"near-duplicate of {sorted(near)[0]}"
        self.exact[key] = row_id
        self.lsh.insert(row_id, mh)
        return None


def check_exercise(row: dict, config: FilterConfig, duplicates: DuplicateIndex) -> str | None:
    """The first reason to reject a refined exercise, or None when it passes every check."""
    question, context, answer = row["question"].strip(), row["context"].strip(), row["answer"].strip()
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
