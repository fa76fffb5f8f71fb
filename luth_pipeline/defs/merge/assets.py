"""merged_checkpoint: the fine-tuned checkpoint merged back with its base, one recipe per partition."""

import hashlib

import dagster as dg

from luth_pipeline.core.checkpoints import CheckpointKey, checkpoint_location
from luth_pipeline.core.config import Profile
from luth_pipeline.core.merge.checkpoint_files import local_checkpoint, parameter_checksum
from luth_pipeline.core.merge.recipes import load_catalogue, load_recipes, template_path
from luth_pipeline.core.merge.report import schedule_plot_png, schedule_table
from luth_pipeline.core.merge.run import merge_checkpoints
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.metadata import latest_materialization
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.publish import publish_plot, register_checkpoints
from luth_pipeline.defs.scale_out import step_tags
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage



def _code_version(profile: Profile) -> str:
    """Config section + the recipes and template texts it selects: editing any re-runs the merges."""
    config = profile.merge
    recipes = load_recipes(config)
    templates = {r.template: hashlib.sha256(template_path(config, r.template).read_bytes()).hexdigest() for r in recipes}
    return code_version("merge", config, [r.model_dump() for r in recipes], templates)


def _parent(context: dg.AssetExecutionContext, key: CheckpointKey, path: str) -> dict:
    """A parent checkpoint: its key, folder, parameter checksum and the run that produced it."""
    checksum, _ = parameter_checksum(local_checkpoint(path))
    parent = {"checkpoint": str(key), "path": path, "parameter_checksum": checksum}
    if key.kind == "finetuned":
        record = latest_materialization(context.instance, "finetuned_checkpoint", key.base_model)
        if record is not None:
            parent["run_id"] = record.run_id
    return parent


def merged_checkpoint(
    context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage
) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    keys = context.partition_key.keys_by_dimension
    base_model, recipe_name = keys["base_model"], keys["recipe"]
    catalogue = load_catalogue(profile.merge)
    if recipe_name not in catalogue:
        raise dg.Failure(f"recipe {recipe_name!r} is not in {profile.merge.recipe_file}; known: {sorted(catalogue)}")
    recipe = catalogue[recipe_name]

    base_key, ft_key = CheckpointKey(base_model, "base"), CheckpointKey(base_model, "finetuned")
    spec = profile.base_models[base_model]
    base_path = str(local_checkpoint(checkpoint_location(base_key, profile, store), revision=spec.revision))
    ft_path = checkpoint_location(ft_key, profile, store)
    parents = {"base": _parent(context, base_key, base_path), "finetuned": _parent(context, ft_key, ft_path)}
    if spec.hf_id:  # the merged model card names the base by its hub id
        parents["base"]["hub_id"] = spec.hf_id

    partition = {"base_model": base_model, "recipe": recipe_name}
    out_dir = store.local_dir("merged_checkpoint", partition)
    result = merge_checkpoints(
        recipe, profile.merge, base=base_path, finetuned=ft_path, out_dir=out_dir, lineage=parents,
        progress=context.log.info,
    )
    [merged_key] = register_checkpoints(context)
    context.log.info(f"{merged_key}: {result.plan.method} merge in {result.merge_seconds:.1f}s → {out_dir}")

    uri = store.publish_dir("merged_checkpoint", partition)  # a no-op under a local data root
    schedule, schedule_plot = result.plan.layer_schedule(), {}
    if schedule:  # published after publish_dir, which replaces the folder in an object store
        png = schedule_plot_png(schedule, f"{merged_key}: fine-tuned share per layer")
        schedule_plot = publish_plot(store, "merged_checkpoint", png, "layer schedule", "layer_schedule_plot",
                                     partition=partition, filename="layer_schedule.png")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(uri),
            "checkpoint_key": merged_key,
            "recipe": recipe_name,
            "merge_method": result.plan.method,
            "mergekit_config": dg.MetadataValue.md(f"```yaml\n{result.plan.yaml_text}\n```"),
            "merge_seconds": dg.MetadataValue.float(round(result.merge_seconds, 3)),
            "total_seconds": dg.MetadataValue.float(round(result.total_seconds, 3)),
            "device": result.device,
            "merge_engine": result.engine,
            "tensors_per_code_path": dg.MetadataValue.json(result.engine_counts),
            "parameter_checksum": result.checksum,
            "num_parameters": dg.MetadataValue.int(result.num_parameters),
            "parents": dg.MetadataValue.json(parents),
            "layer_schedule": dg.MetadataValue.md(schedule_table(schedule)),
            **schedule_plot,
        }
    )


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """merged_checkpoint of `profile`, one merge per base model × recipe."""
    return dg.Definitions(assets=[
        dg.asset(
            key="merged_checkpoint",
            partitions_def=partitions.merge,
            deps=[
                dg.AssetDep(
                    "finetuned_checkpoint",
                    partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="base_model"),
                )
            ],
            group_name="merge",
            kinds={"mergekit", "pytorch"},
            pool="gpu",
            op_tags=step_tags(profile, "merged_checkpoint"),  # a GPU pod sized from the profile (defs/scale_out.py)
            code_version=_code_version(profile),
            description=(
                "The fine-tuned checkpoint merged with its base model by mergekit (linear or SLERP, "
                "recipe = partition; configs/merge/). Registers `<base>.merged.<recipe>` for evaluation."
            ),
        )(one_writer_per_partition(merged_checkpoint)),
    ])
