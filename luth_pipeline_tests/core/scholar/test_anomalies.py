"""Each anomaly check catches its case and lets a good exercise through."""

import pytest

from luth_pipeline.core.scholar.anomalies import DuplicateIndex, check_exercise, latex_problem
from luth_pipeline.core.scholar.config import FilterConfig

GOOD = {
    "id": "scholar/x/000",
    "question": "Calculer la dérivée de la fonction $f$ définie sur $\\mathbb{R}$ par $f(x) = x e^{-x}$.",
    "context": "Soit $f$ la fonction définie sur $\\mathbb{R}$ par $f(x) = x e^{-x}$.",
    "answer": "La fonction $f$ est un produit de fonctions dérivables, donc $f'(x) = e^{-x} - x e^{-x} = (1 - x)e^{-x}$.",
    "needs_figure": False,
}


def check(**changes):
    return check_exercise({**GOOD, **changes}, FilterConfig(), DuplicateIndex(0.85))


def test_a_good_exercise_passes():
    assert check() is None


@pytest.mark.parametrize("changes, check_name", [
    ({"question": "  "}, "empty"),
    ({"question": None}, "empty"),  # a null field is a reject with its reason, not a TypeError
    ({"answer": None}, "answerless"),
    ({"answer": ""}, "answerless"),
    ({"answer": "On trouve $f'(x) = (1-x)e^{-x}."}, "latex"),  # odd number of $
    ({"answer": "On trouve $\\frac{1}{2$ donc la dérivée est négative."}, "latex"),  # unbalanced brace
    ({"answer": "On trouve $\\begin{cases} x \\end{array}$ comme attendu pour la dérivée."}, "latex"),  # parser error
    ({"answer": "The derivative follows from the product rule, so the function decreases after one."}, "language"),
    ({"question": "D'après la figure 1 ci-contre, lire $f(2)$."}, "figure"),
    ({"needs_figure": True}, "figure"),
    ({"answer": "Calculer la dérivée de la fonction $f$ définie sur $\\mathbb{R}$."}, "restatement"),
])
def test_each_check_catches_its_case(changes, check_name):
    reason = check(**changes)
    assert reason is not None and reason.startswith(f"{check_name}:"), reason


@pytest.mark.parametrize("question, answer", [
    ("Vrai ou faux : la fonction $f$ est croissante.", "Faux."),
    ("Quelle est la bonne réponse : a) 2, b) 3 ou c) 4 ?", "b) 3"),
])
def test_short_answers_reusing_the_question_words_are_not_restatements(question, answer):
    assert check(question=question, answer=answer, context="") is None


def test_duplicates_exact_and_near():
    index = DuplicateIndex(0.7)
    config = FilterConfig(near_duplicate_threshold=0.7)
    assert check_exercise(GOOD, config, index) is None
    assert check_exercise({**GOOD, "id": "b"}, config, index) == "duplicate: duplicate of scholar/x/000"
    near = {**GOOD, "id": "c", "answer": GOOD["answer"].replace("donc", "ainsi")}
    assert check_exercise(near, config, index).startswith("duplicate: near-duplicate of scholar/x/000")


def test_latex_in_code_blocks_is_not_checked():
    assert latex_problem("Le code `prix = 5$` puis $x^2$.") is None
