"""Partition definitions shared by stages (keys come from the active profile)."""

import dagster as dg

from luth_pipeline.core.merge.recipes import load_recipes
from luth_pipeline.profile import current_profile

source_partitions = dg.StaticPartitionsDefinition(sorted(current_profile().sources))
base_model_partitions = dg.StaticPartitionsDefinition(sorted(current_profile().base_models))
# One partition per evaluable model (luth_pipeline.core.checkpoints.CheckpointKey); the assets
# that produce checkpoints register their keys when they materialize.
checkpoint_partitions = dg.DynamicPartitionsDefinition(name="checkpoint")
# One merged checkpoint per base model × merge recipe (recipes: configs/merge/recipes.yaml,
# chosen by the profile's `merge.recipes`).
merge_partitions = dg.MultiPartitionsDefinition(
    {
        "base_model": base_model_partitions,
        "recipe": dg.StaticPartitionsDefinition([r.name for r in load_recipes(current_profile().merge)]),
    }
)
