"""French decimal commas are decimals for the maths metric, without breaking tuples/intervals."""

from luth_pipeline.core.eval.metrics import normalize_decimal_commas


def test_boxed_decimal_comma_becomes_a_decimal_point():
    assert normalize_decimal_commas("$\\boxed{0,5}$") == "$\\boxed{0.5}$"
    assert normalize_decimal_commas("\\boxed{-12,25}") == "\\boxed{-12.25}"
    assert normalize_decimal_commas("$2{,}5$ et $\\boxed{3{,}75}$") == "$2.5$ et $\\boxed{3.75}$"


def test_pairs_and_intervals_are_left_alone():
    assert normalize_decimal_commas("\\boxed{(1,2)}") == "\\boxed{(1,2)}"
    assert normalize_decimal_commas("\\boxed{[2,5)}") == "\\boxed{[2,5)}"
    assert normalize_decimal_commas("\\boxed{1, 2, 3}") == "\\boxed{1, 2, 3}"
