"""ConfigurableResources shared by the stages, injected by type."""

from luth_pipeline.resources.config import LuthConfig
from luth_pipeline.resources.storage import LuthStorage

__all__ = ["LuthConfig", "LuthStorage"]
