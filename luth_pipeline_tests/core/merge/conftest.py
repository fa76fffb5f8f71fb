from pathlib import Path

import pytest

from luth_pipeline.core.merge.config import MergeConfig
from luth_pipeline_tests.core.merge.models import save_variant


@pytest.fixture(scope="session")
def finetuned_path(tiny_model_path, tmp_path_factory) -> Path:
    """The tiny base with every weight perturbed: a stand-in for the fine-tuned checkpoint."""
    return save_variant(tiny_model_path, tmp_path_factory.mktemp("finetuned") / "model")


@pytest.fixture
def merge_config() -> MergeConfig:
    # float32 arithmetic and storage so merged tensors can be compared exactly.
    return MergeConfig(dtype="float32", device="cpu")
