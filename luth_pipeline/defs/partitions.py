"""Partition definitions shared by stages, built once from the loaded profile (`Partitions.of`)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.merge.recipes import load_recipes

# One partition per evaluable model (luth_pipeline.core.checkpoints.CheckpointKey); the assets
# that produce checkpoints register their keys when they materialize. Its keys live in the
# instance, not in the profile, so it is the same definition under every profile.
checkpoint_partitions = dg.DynamicPartitionsDefinition(name="checkpoint")


@dataclass(frozen=True)
class Partitions:
    """The partitions of one profile: every stage factory gets the same instance."""

    sources: dg.StaticPartitionsDefinition
    base_model: dg.StaticPartitionsDefinition
    # One merged checkpoint per base model × merge recipe (recipes: configs/merge/recipes.yaml,
    # chosen by the profile's `merge.recipes`).
    merge: dg.MultiPartitionsDefinition
    checkpoint: dg.DynamicPartitionsDefinition = checkpoint_partitions

    @classmethod
    def of(cls, profile: Profile) -> Partitions:
        base_model = dg.StaticPartitionsDefinition(sorted(profile.base_models))
        recipes = dg.StaticPartitionsDefinition([r.name for r in load_recipes(profile.merge)])
        return cls(
            sources=dg.StaticPartitionsDefinition(sorted(profile.sources)),
            base_model=base_model,
            merge=dg.MultiPartitionsDefinition({"base_model": base_model, "recipe": recipes}),
        )
