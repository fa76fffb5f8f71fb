"""Metrics of each task family, built on LightEval's own metric machinery.

- MCQ (GPQA): LightEval's multilingual extractive match with letter extraction ("Réponse : C").
- MMLU / ARC / English HellaSwag: log-likelihood accuracy (upstream's choice for these; ARC and
  HellaSwag-en also report the length-normalised `acc_norm`).
- HellaSwag-fr / BoolQ: upstream's exact-match family (em, qem, pem, pqem) on the generated letter /
  Oui-Non.
- Maths: boxed answer, extracted as LaTeX or a plain expression and compared symbolically with
  sympy by LightEval; French decimal commas (`0,5`, `2{,}5`) are read as decimals first, so
  `\\boxed{0,5}` matches a gold `\\frac{1}{2}` instead of parsing as the pair (0, 5).
- Kholle: the last boxed answer against every accepted gold form, as text (MCQ options) or as a
  quantity with its unit dropped, compared like the maths answers.
- IFEval: LightEval's IFEval instruction checkers (prompt/instruction level, strict/loose).
"""

from __future__ import annotations

import dataclasses
import re
from copy import copy

import numpy as np
from lighteval.metrics.dynamic_metrics import LogLikelihoodAccMetric, MultilingualExtractiveMatchMetric
from lighteval.metrics.metrics import Metrics
from lighteval.metrics.metrics_sample import SampleLevelComputation
from lighteval.metrics.normalizations import LogProbCharNorm
from lighteval.metrics.utils.extractive_match_utils import (
    ExprExtractionConfig,
    IndicesExtractionConfig,
    LatexExtractionConfig,
)
from lighteval.metrics.utils.metric_utils import SampleLevelMetric
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc, SamplingMethod

from luth_pipeline.core.eval.prompts import LANGUAGES

# `2{,}5` (LaTeX) and `0,5` alone inside \boxed{} are decimals in French, not tuples.
_LATEX_DECIMAL = re.compile(r"(\d)\{,\}(\d)")
_BOXED_COMMA_DECIMAL = re.compile(r"(\\boxed\{\s*-?\d+),(\d+\s*\})")


def normalize_decimal_commas(text: str) -> str:
    text = _LATEX_DECIMAL.sub(r"\1.\2", text)
    return _BOXED_COMMA_DECIMAL.sub(r"\1.\2", text)


class DecimalCommaMathMatch(SampleLevelComputation):
    """LightEval's extractive match, fed with decimal commas normalized on both sides."""

    def __init__(self, language: str):
        self.inner = MultilingualExtractiveMatchMetric(
            language=LANGUAGES[language],
            gold_extraction_target=(LatexExtractionConfig(), ExprExtractionConfig()),
            pred_extraction_target=(ExprExtractionConfig(), LatexExtractionConfig(boxed_match_priority=0)),
            precision=5,
        )

    def compute(self, doc: Doc, model_response: ModelResponse, **kwargs) -> float:
        original = doc
        doc = copy(doc)
        doc.choices = [normalize_decimal_commas(c) for c in doc.choices]
        texts = [normalize_decimal_commas(t) for t in model_response.final_text]
        score = self.inner.compute(doc, dataclasses.replace(model_response, text=texts, text_post_processed=None))
        original.specific = doc.specific  # what LightEval extracted, kept for the per-sample details
        return score


def math_pass_at_1(language: str) -> SampleLevelMetric:
    return SampleLevelMetric(
        metric_name="math_pass@1",
        sample_level_fn=DecimalCommaMathMatch(language),
        category=SamplingMethod.GENERATIVE,
        corpus_level_fn=np.mean,
        higher_is_better=True,
    )


# Units a Kholle answer may carry (SI and common ones) with an optional SI prefix. A unit is only
# read at the end of an answer, after its number: a variable or an MCQ option ("A", "m") never is.
_PREFIX = "(?:da|Y|Z|E|P|T|G|M|k|h|d|c|m|µ|μ|u|n|p|f)?"
_UNIT = _PREFIX + "(?:mol|Hz|Pa|Wb|eV|rad|cd|lx|ohm|Ω|V|A|C|J|W|F|H|N|K|T|L|g|s|m)"
_POWER = r"(?:\s*\^\s*\{?\s*-?\d+\s*\}?)?"
_UNIT_EXPR = rf"{_UNIT}{_POWER}(?:\s*[./]\s*{_UNIT}{_POWER})*"
_UNIT_WRAPPER = re.compile(rf"\\(?:text|mathrm|rm)\s*\{{\s*({_UNIT_EXPR}|°C?)\s*\}}")
# The number's end, a space (`2m` may well be twice a mass m), the unit; degrees need no space.
_TRAILING_UNIT = re.compile(rf"(?<=[\d}}])(?:\s+({_UNIT_EXPR})|\s*(°C?))\s*$")
_UNIT_TOKEN = re.compile(rf"(/)?\s*({_UNIT})\s*(?:\^\s*\{{?\s*(-?\d+)\s*\}}?)?")
_LATEX_SPACES = re.compile(r"\\[,;:! ]|~")
_LAST_BOXED = re.compile(r"\\boxed\s*\{")


def split_unit(answer: str) -> tuple[str, dict[str, int] | None]:
    """`12\\,\\text{V}` -> ("12", {"V": 1}); `9{,}81\\,\\text{m}\\cdot\\text{s}^{-2}` and
    `9,81 m/s^2` -> ("9{,}81", {"m": 1, "s": -2}); `\\frac{1}{2}` -> ("\\frac{1}{2}", None)."""
    text = _LATEX_SPACES.sub(" ", answer.strip().strip("$").strip())
    text = _UNIT_WRAPPER.sub(r" \1", text)
    text = re.sub(r"\s*(?:\\cdot|·)\s*", ".", text)
    match = _TRAILING_UNIT.search(text)
    if match is None:
        return text.strip(), None
    if match.group(2):  # degrees
        return text[: match.start()].strip(), {match.group(2): 1}
    unit = match.group(1)
    signature: dict[str, int] = {}
    for divide, symbol, power in _UNIT_TOKEN.findall(unit):
        signature[symbol] = signature.get(symbol, 0) + (int(power) if power else 1) * (-1 if divide else 1)
    return text[: match.start()].strip(), signature


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (balanced braces), or None."""
    starts = [m.end() for m in _LAST_BOXED.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    return None


def _plain(answer: str) -> str:
    """Text answers (an MCQ option, a word) compared loosely: case, spaces, `$`, `\\text{}`, final dot."""
    text = re.sub(r"\\text\s*\{([^{}]*)\}", r"\1", answer)
    return re.sub(r"[\s$]", "", text).rstrip(".").lower()


class KholleMatch(SampleLevelComputation):
    """Kholle answers: the last boxed answer equals a gold one as text (MCQ options, words), or as
    a quantity compared symbolically once units and LaTeX spaces are dropped and decimal commas
    read as decimals (`\\boxed{1{,}2\\,\\text{V}}` = `1.2 V` = `\\frac{6}{5}`)."""

    def __init__(self):
        self.maths = DecimalCommaMathMatch("fr")

    def compute(self, doc: Doc, model_response: ModelResponse, **kwargs) -> float:
        predicted = last_boxed(model_response.final_text[0]) if model_response.final_text else None
        golds = doc.get_golds()
        doc.specific = {**(doc.specific or {}), "extracted_predictions": [predicted], "extracted_golds": golds}
        if predicted is None:
            return 0.0
        if any(_plain(gold) == _plain(predicted) for gold in golds):
            return 1.0
        value, unit = split_unit(predicted)
        # A unit that differs from the gold's (kV for V, m/s for m) makes the quantity wrong;
        # an answer without its unit is judged on the number, as upstream does.
        comparable = [quantity for quantity, gold_unit in map(split_unit, golds) if not (unit and gold_unit and unit != gold_unit)]
        if not comparable:
            return 0.0
        quantities = copy(doc)
        quantities.choices = [f"$\\boxed{{{quantity}}}$" for quantity in comparable]
        quantities.gold_index = list(range(len(comparable)))
        response = dataclasses.replace(model_response, text=[f"$\\boxed{{{value}}}$"], text_post_processed=None)
        return self.maths.compute(quantities, response)


def kholle_pass_at_1() -> SampleLevelMetric:
    return SampleLevelMetric(
        metric_name="kholle_pass@1",
        sample_level_fn=KholleMatch(),
        category=SamplingMethod.GENERATIVE,
        corpus_level_fn=np.mean,
        higher_is_better=True,
    )


def mcq_letter_pass_at_1(language: str) -> SampleLevelMetric:
    letters = IndicesExtractionConfig(prefix_for_extraction="NativeLetters", try_extract_without_anchor=True)
    return SampleLevelMetric(
        metric_name="mcq_pass@1",
        sample_level_fn=MultilingualExtractiveMatchMetric(
            language=LANGUAGES[language],
            gold_extraction_target=(letters,),
            pred_extraction_target=(letters,),
            precision=6,
        ),
        category=SamplingMethod.GENERATIVE,
        corpus_level_fn=np.mean,
        higher_is_better=True,
    )


def exact_match_family() -> list:
    """Upstream's four exact-match metrics (LightEval 0.10 em, qem, pem, pqem; 0.13 keeps only em
    as a named metric, so the other three are rebuilt from its ExactMatches). With upstream's
    8192-token budget a chat model often answers "B. …" or "La réponse est B": em and qem then
    miss what the prefix variants count, and which one the published figures are is not stated.
    Kept as upstream computed them, flaw included: helm_normalizer drops the article "a", so a
    gold letter A normalises to "" and pqem counts any answer to it as right."""
    from lighteval.metrics.metrics_sample import ExactMatches
    from lighteval.metrics.normalizations import helm_normalizer

    def metric(name: str, computation) -> SampleLevelMetric:
        return SampleLevelMetric(metric_name=name, sample_level_fn=computation, category=SamplingMethod.GENERATIVE,
                                 corpus_level_fn=np.mean, higher_is_better=True)

    return [
        Metrics.exact_match.value,
        metric("qem", ExactMatches(normalize_gold=helm_normalizer, normalize_pred=helm_normalizer, strip_strings=True)),
        metric("pem", ExactMatches(strip_strings=True, type_exact_match="prefix")),
        metric("pqem", ExactMatches(normalize_gold=helm_normalizer, normalize_pred=helm_normalizer, type_exact_match="prefix")),
    ]


def ifeval_metrics():
    # Imported lazily: the module fetches NLTK data at import (see lighteval_compat).
    from lighteval.tasks.tasks.ifeval.main import ifeval_metrics as metrics

    return metrics


def metrics_for(kind: str, language: str) -> list:
    match kind:
        case "ifeval":
            return [ifeval_metrics()]
        case "gpqa":
            return [mcq_letter_pass_at_1(language)]
        case "math":
            return [math_pass_at_1(language)]
        case "kholle":
            return [kholle_pass_at_1()]
        case "mmlu_letters" | "mmlu_harness":
            # Upstream's MMLU-fr asks LightEval for token/char/PMI-normalised accuracies under the
            # lettered (MCF) formulation, for which LightEval substitutes plain accuracy; English
            # `leaderboard|mmlu` is plain accuracy too.
            return [LogLikelihoodAccMetric()]
        case "arc":
            # upstream: loglikelihood_acc + loglikelihood_acc_norm_nospace (both languages)
            return [LogLikelihoodAccMetric(), LogLikelihoodAccMetric(normalization=LogProbCharNorm(ignore_first_space=True))]
        case "hellaswag_harness":
            # LightEval 0.10 `leaderboard|hellaswag`: loglikelihood_acc + loglikelihood_acc_norm
            return [LogLikelihoodAccMetric(), LogLikelihoodAccMetric(normalization=LogProbCharNorm())]
        case "hellaswag" | "boolq":
            return exact_match_family()
    raise ValueError(f"no metrics for task kind {kind!r}")


# The one number per task that tables and the report show (the first metric of each family).
HEADLINE_METRIC = {
    "ifeval": "prompt_level_strict_acc",
    "gpqa": "mcq_pass@1",
    "math": "math_pass@1",
    "kholle": "kholle_pass@1",
    "mmlu_letters": "acc",
    "mmlu_harness": "acc",
    "arc": "acc",
    "hellaswag": "em",
    "hellaswag_harness": "acc",
    "boolq": "em",
}
