"""Settings of the `merge` stage (fields are added as the stage is built)."""

from luth_pipeline.core.config.base import StrictModel


class MergeConfig(StrictModel):
    pass
