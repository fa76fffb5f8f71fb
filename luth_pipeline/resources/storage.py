import dagster as dg

from luth_pipeline.core.storage import DatasetStore


class LuthStorage(dg.ConfigurableResource):
    """Datasets and checkpoints under `root`: a local folder (local/gpu) or s3:// URI (prod)."""

    root: str

    @property
    def store(self) -> DatasetStore:
        return DatasetStore(self.root)
