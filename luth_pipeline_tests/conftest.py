"""Shared fixtures: an isolated data root per test, the local profile, the tiny model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No hub exists here: every model/dataset is built or shipped, and tests must prove it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from luth_pipeline.core.config import load_profile  # noqa: E402
from luth_pipeline.core.models import resolve_base_model  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"  # test-only data and the generators; the demo data: luth_pipeline.demo_data


@pytest.fixture(scope="session")
def local_profile():
    return load_profile("local")


@pytest.fixture(scope="session")
def tiny_model_path(local_profile) -> str:
    """The local profile's tiny base model, built once (cached under the profile's work dir)."""
    name, spec = next(iter(local_profile.base_models.items()))
    return resolve_base_model(name, spec, local_profile.work_path)


@pytest.fixture
def luth_resources(tmp_path):
    """The shared Dagster resources, writing into a fresh temporary data root."""
    from luth_pipeline.resources import LuthConfig, LuthStorage

    from luth_pipeline.resources.llm import LLMClientResource

    return {"luth_config": LuthConfig(profile="local"), "luth_storage": LuthStorage(root=str(tmp_path / "data")),
            "llm": LLMClientResource()}
