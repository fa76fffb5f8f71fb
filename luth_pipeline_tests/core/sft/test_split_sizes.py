"""Luth-SFT split sizes against the published ones: empty and far-off splits fail with the numbers."""

import pytest
from pydantic import ValidationError

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.sft.config import PUBLISHED_SPLIT_SIZES, SplitSizeConfig
from luth_pipeline.core.sft.split_sizes import configured_splits, split_size_problems


def test_published_sizes_are_the_luth_sft_card():
    assert sum(PUBLISHED_SPLIT_SIZES.values()) == 570_623
    gpu = load_profile("gpu").sft
    assert gpu.split_sizes.expected == PUBLISHED_SPLIT_SIZES
    assert set(configured_splits(gpu)) == set(PUBLISHED_SPLIT_SIZES)


def test_sizes_within_tolerance_pass_and_far_ones_fail_with_numbers():
    config = SplitSizeConfig(tolerance=0.25)
    counts = dict(PUBLISHED_SPLIT_SIZES, luth_smoltalk2=41_000, luth_aya_dataset=140, luth_croissantllm=0)
    problems, table = split_size_problems(counts, list(PUBLISHED_SPLIT_SIZES), config)
    assert len(problems) == 2
    assert problems[0].startswith("split luth_croissantllm has 0 rows (expected ≈ 13,872)")
    assert "split luth_aya_dataset has 140 rows, expected 1,422 ± 25% (ratio 0.0985)" in problems[1]
    by_split = {s.split: s for s in table}
    assert by_split["luth_smoltalk2"].ratio == round(41_000 / 50_474, 4)  # 19 % off: within tolerance


def test_an_empty_configured_split_fails_even_without_expected_sizes():
    config = SplitSizeConfig(expected={}, no_sizes_reason="fixtures")
    problems, _ = split_size_problems({"luth_scholar": 3}, ["luth_scholar", "luth_aya_dataset"], config)
    assert problems == ["split luth_aya_dataset has 0 rows: its input yielded nothing (see luth_sft's missing_inputs)"]
    assert split_size_problems({"luth_scholar": 3, "extra": 2}, ["luth_scholar"], config)[0] == []


def test_no_expected_sizes_needs_a_reason():
    with pytest.raises(ValidationError, match="no_sizes_reason"):
        SplitSizeConfig(expected={})
    assert load_profile("local").sft.split_sizes.no_sizes_reason
