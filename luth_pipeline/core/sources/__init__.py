"""Raw sources: the real `datasets` loader, row filtering/capping, normalization to chat messages."""

# The profile package imports every stage's config module: load it first so that importing a
# submodule of this package directly (e.g. `...sources.normalize`) does not hit a circular import.
import luth_pipeline.core.config  # noqa: F401, I001
from luth_pipeline.core.sources.config import SourceConfig
from luth_pipeline.core.sources.loader import SourceRows, check_schema, load_source, open_dataset, reservoir_sample
from luth_pipeline.core.sources.normalize import MalformedRow, to_messages

__all__ = ["MalformedRow", "SourceConfig", "SourceRows", "check_schema", "load_source", "open_dataset", "reservoir_sample", "to_messages"]
