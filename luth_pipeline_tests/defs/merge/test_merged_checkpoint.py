"""merged_checkpoint materializes with the local profile and registers its eval partition."""

import dagster as dg
import pytest
from transformers import AutoModelForCausalLM

from luth_pipeline.core.checkpoints import checkpoint_location
from luth_pipeline.core.merge.checkpoint_files import parameter_checksum
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline_tests.core.merge.models import save_variant
from luth_pipeline_tests.stage_defs import assets

[merged_checkpoint] = assets("merged_checkpoint")


def _partition(recipe: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"base_model": "tiny", "recipe": recipe})


def test_local_profile_partitions_are_the_configured_sweep(local_profile):
    recipes = {k.keys_by_dimension["recipe"] for k in Partitions.of(local_profile).merge.get_partition_keys()}
    assert recipes == set(local_profile.merge.recipes)
    assert {"linear-030", "slerp-070", "slerp-upstream"} <= recipes


def test_materialize_merges_and_registers_the_checkpoint(luth_resources, local_profile, tiny_model_path):
    store = luth_resources["luth_storage"].store
    finetuned = save_variant(tiny_model_path, store.local_dir("finetuned_checkpoint", "tiny"))
    instance = dg.DagsterInstance.ephemeral()

    result = dg.materialize([merged_checkpoint], resources=luth_resources, partition_key=_partition("slerp-upstream"), instance=instance)

    assert result.success
    metadata = result.asset_materializations_for_node("merged_checkpoint")[0].metadata
    assert "tiny.merged.slerp-upstream" in instance.get_dynamic_partitions("checkpoint")
    path = checkpoint_location("tiny.merged.slerp-upstream", local_profile, store)
    assert metadata["path"].value == path
    assert metadata["parameter_checksum"].value == parameter_checksum(path)[0]
    assert "merge_method: slerp" in metadata["mergekit_config"].value
    assert str(finetuned) in metadata["mergekit_config"].value
    parents = metadata["parents"].value
    assert parents["finetuned"]["checkpoint"] == "tiny.finetuned" and parents["base"]["checkpoint"] == "tiny.base"
    assert parents["finetuned"]["parameter_checksum"] == parameter_checksum(finetuned)[0]
    assert metadata["layer_schedule"].value.startswith("| layer |")
    assert "data:image/png;base64," in metadata["layer_schedule_plot"].value and "layer_schedule_plot_full" in metadata
    assert metadata["layer_schedule_plot_path"].value == f"{path}/layer_schedule.png"
    assert metadata["merge_seconds"].value > 0
    assert metadata["merge_engine"].value == "stream"
    assert metadata["tensors_per_code_path"].value == {"fast_slerp": 24, "mergekit_kernel": 0}  # every tiny-model tensor
    assert AutoModelForCausalLM.from_pretrained(path).config.model_type == "qwen3"


def test_missing_finetuned_checkpoint_names_the_asset_to_materialize(luth_resources):
    with pytest.raises(FileNotFoundError, match="materialize finetuned_checkpoint partition 'tiny'"):
        dg.materialize([merged_checkpoint], resources=luth_resources, partition_key=_partition("linear-050"))
