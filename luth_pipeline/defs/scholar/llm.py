"""The shared LLM client for one Scholar pass (extraction or refinement), closed after use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from luth_pipeline.core.config import Profile
from luth_pipeline.core.llm import LLMClient, build_client
from luth_pipeline.core.llm.config import StageLLMConfig


@contextlib.contextmanager
def scholar_client(profile: Profile, stage: StageLLMConfig, logger) -> Iterator[LLMClient]:
    client = build_client(profile, stage, logger=logger)
    try:
        yield client
    finally:
        client.close()
