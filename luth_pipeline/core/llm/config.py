"""Settings of the `llm` stage (fields are added as the stage is built)."""

from luth_pipeline.core.config.base import StrictModel


class LLMConfig(StrictModel):
    pass
