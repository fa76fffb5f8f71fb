"""Metrics of each task family, built on LightEval's own metric machinery.

- MCQ (GPQA): LightEval's multilingual extractive match with letter extraction ("Réponse : C").
- MMLU / ARC: log-likelihood accuracy (upstream's choice for these two).
- HellaSwag / BoolQ: exact match on the generated letter / Oui-Non (generation size 1 / 5).
- Maths: boxed answer, extracted as LaTeX or a plain expression and compared symbolically with
  sympy by LightEval; French decimal commas (`0,5`, `2{,}5`) are read as decimals first, so
  `\\boxed{0,5}` matches a gold `\\frac{1}{2}` instead of parsing as the pair (0, 5).
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
        case "mmlu_letters" | "mmlu_list":
            return [LogLikelihoodAccMetric()]
        case "arc_choice_columns" | "arc_choice_struct":
            return [LogLikelihoodAccMetric(), LogLikelihoodAccMetric(normalization=LogProbCharNorm())]
        case "hellaswag" | "boolq":
            return [Metrics.exact_match]
    raise ValueError(f"no metrics for task kind {kind!r}")


# The one number per task that tables and the report show (the first metric of each family).
HEADLINE_METRIC = {
    "ifeval": "prompt_level_strict_acc",
    "gpqa": "mcq_pass@1",
    "math": "math_pass@1",
    "mmlu_letters": "acc",
    "mmlu_list": "acc",
    "arc_choice_columns": "acc",
    "arc_choice_struct": "acc",
    "hellaswag": "em",
    "boolq": "em",
}
