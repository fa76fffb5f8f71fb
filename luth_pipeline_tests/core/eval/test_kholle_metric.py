"""The Kholle metric on single answers: units read and compared, MCQ options, decimal commas."""

import pytest
from lighteval.models.model_output import ModelResponse

from luth_pipeline.core.eval.metrics import KholleMatch, split_unit
from luth_pipeline.core.eval.prompts import kholle_prompt


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("12 V", ("12", {"V": 1})),
        (r"12\,\text{kV}", ("12", {"kV": 1})),
        (r"5\,\text{m}\cdot\text{s}^{-1}", ("5", {"m": 1, "s": -1})),
        ("9,81 m/s^2", ("9,81", {"m": 1, "s": -2})),
        (r"1{,}2 \times 10^{-5}\,\mathrm{C}", (r"1{,}2 \times 10^{-5}", {"C": 1})),
        ("25°C", ("25", {"°C": 1})),
        ("2m", ("2m", None)),  # no space: twice a mass m, not two metres
        ("A", ("A", None)),  # an MCQ option, not ampères
        (r"\frac{1}{2}", (r"\frac{1}{2}", None)),
    ],
)
def test_split_unit(answer, expected):
    assert split_unit(answer) == expected


@pytest.mark.parametrize(
    ("gold", "boxed", "score"),
    [
        ("12 V", r"12\,\text{V}", 1.0),
        ("12 V", "12", 1.0),  # the number alone is judged on the number
        ("12 V", r"12\,\text{kV}", 0.0),  # another unit is another quantity
        ("5 m/s", r"5\,\text{m}\cdot\text{s}^{-1}", 1.0),
        ("5 m/s", r"5\,\text{m}\cdot\text{s}^{-2}", 0.0),
        ("0,25", r"\frac{1}{4}", 1.0),
        (r"\frac{3}{4}", "0,75", 1.0),
        ("46", "47", 0.0),
        ("a", "A", 1.0),
        ("a", "b", 0.0),
    ],
)
def test_kholle_match(gold, boxed, score):
    doc = kholle_prompt({"problem": "Question ?", "answer": gold}, "kholle_fr|0")
    response = ModelResponse(text=[f"Raisonnement…\nDonc, la réponse finale est : $\\boxed{{{boxed}}}$."])
    assert KholleMatch().compute(doc, response) == score


def test_any_listed_answer_is_accepted_and_no_boxed_answer_scores_zero():
    doc = kholle_prompt({"problem": "Simplifier 6/8.", "answer": [r"\frac{3}{4}", "trois quarts"]}, "kholle_fr|0")
    assert KholleMatch().compute(doc, ModelResponse(text=[r"$\boxed{\text{trois quarts}}$"])) == 1.0
    assert KholleMatch().compute(doc, ModelResponse(text=["trois quarts"])) == 0.0
