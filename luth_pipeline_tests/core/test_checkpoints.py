"""Checkpoint keys round-trip, base model names with dots included (`qwen3-0.6b`)."""

import pytest

from luth_pipeline.core.checkpoints import CheckpointKey


@pytest.mark.parametrize(("key", "parsed"), [
    ("tiny.base", CheckpointKey("tiny", "base")),
    ("qwen3-0.6b.finetuned", CheckpointKey("qwen3-0.6b", "finetuned")),
    ("lfm2-1.2b.merged.linear-050", CheckpointKey("lfm2-1.2b", "merged", "linear-050")),
])
def test_keys_round_trip(key, parsed):
    assert CheckpointKey.parse(key) == parsed and str(parsed) == key


@pytest.mark.parametrize("key", ["tiny", "tiny.merged.", "qwen3-0.6b", "tiny.trained"])
def test_malformed_keys_name_the_expected_forms(key):
    with pytest.raises(ValueError, match="<base>.merged.<recipe>"):
        CheckpointKey.parse(key)
