"""Partition definitions shared by stages (keys come from the active profile)."""

import dagster as dg

from luth_pipeline.profile import current_profile

source_partitions = dg.StaticPartitionsDefinition(sorted(current_profile().sources))
base_model_partitions = dg.StaticPartitionsDefinition(sorted(current_profile().base_models))
# One partition per evaluable model (luth_pipeline.core.checkpoints.CheckpointKey); the assets
# that produce checkpoints register their keys when they materialize.
checkpoint_partitions = dg.DynamicPartitionsDefinition(name="checkpoint")
