"""Settings of the `scholar` stage (fields are added as the stage is built)."""

from luth_pipeline.core.config.base import StrictModel


class ScholarConfig(StrictModel):
    pass
