"""The one way an asset publishes what it made: tables (data, rejects, side tables), plots, and the
checkpoints it registers for evaluation, each with the standard metadata of `defs/metadata.py`.

    return dg.MaterializeResult(metadata={
        **publish_table(store, "french_samples", data, rejects, partition=name, upstream="raw_multilingual_dumps",
                        rejects_preview=["id", "reason"]),
        **publish_plot(store, "french_samples", png, "languages", "language_plot", partition=name),
    })
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import dagster as dg
import polars as pl

from luth_pipeline.core.checkpoints import CheckpointKey
from luth_pipeline.core.plots import PlotPng
from luth_pipeline.core.storage import DatasetStore
from luth_pipeline.defs.metadata import dataset_metadata, plot_metadata, rejects_preview as preview_of_rejects
from luth_pipeline.defs.partitions import checkpoint_partitions


def publish_table(
    store: DatasetStore,
    asset: str,
    data: pl.DataFrame,
    rejects: pl.DataFrame | None = None,
    *,
    partition: str | dict[str, str] | None = None,
    tables: Mapping[str, pl.DataFrame] | None = None,
    upstream: str | dg.AssetKey | Iterable[str | dg.AssetKey] | None = None,
    derived: Mapping[str, Iterable[str]] | None = None,
    descriptions: Mapping[str, str] | None = None,
    preview_rows: int = 5,
    rejects_preview: Sequence[str] | None = None,
    rejects_per_reason: int | None = None,
    rejects_key: str = "rejects",
) -> dict:
    """Write `data` (and `rejects`, and each side table of `tables`) atomically; return the
    standard metadata: row count, path, column schema and lineage, preview, and `<table>_path` of
    every other table; with `rejects_preview` (its columns), a markdown table of rejected rows
    under `rejects_key`.

    Pass `rejects` even when empty: the table is always rewritten, so a re-run never leaves a past
    run's rejects beside the new data."""
    if rejects_preview is not None and rejects is None:
        raise ValueError(f"publish_table({asset!r}): rejects_preview names columns of `rejects`: pass the rejects table")
    uri = store.write(data, asset, partition)
    metadata = dataset_metadata(data, uri, upstream, derived, descriptions, preview_rows)
    others = {**({"rejects": rejects} if rejects is not None else {}), **(tables or {})}
    for table, frame in others.items():
        metadata[f"{table}_path"] = dg.MetadataValue.path(store.write(frame, asset, partition, table))
    if rejects_preview is not None:
        metadata[rejects_key] = preview_of_rejects(rejects, rejects_preview, per_reason=rejects_per_reason)
    return metadata


def publish_plot(
    store: DatasetStore, asset: str, png: PlotPng, title: str, key: str, *, partition: str | dict[str, str] | None = None,
    filename: str | None = None,
) -> dict:
    """Write the plot's PNG in the asset partition's folder (beside its tables, or inside its folder
    output: call it after `store.publish_dir`, which replaces the folder in an object store) and
    return its metadata: `key` drawn in place, `<key>_full`, and `<key>_path` (the file)."""
    path = store.write_file(png, asset, partition, filename or f"{key}.png")
    return {**plot_metadata(png, title, key), f"{key}_path": dg.MetadataValue.path(path)}


def checkpoint_keys_for(asset_key: str, partition: str | None) -> list[str]:
    """The checkpoint partitions a materialization of `asset_key` makes evaluable: `<base>.base` and
    `<base>.finetuned` for a fine-tune, `<base>.merged.<recipe>` for a merge (partition written
    `base_model=…,recipe=…` or as Dagster's multi-partition key `<base>|<recipe>`)."""
    if partition is None:
        return []
    if asset_key == "finetuned_checkpoint":
        return [str(CheckpointKey(partition, "base")), str(CheckpointKey(partition, "finetuned"))]
    if asset_key == "merged_checkpoint":
        dims = dict(part.split("=", 1) for part in partition.split(",")) if "=" in partition else None
        base, recipe = (dims["base_model"], dims["recipe"]) if dims else partition.split("|", 1)
        return [str(CheckpointKey(base, "merged", recipe))]
    return []


def register_checkpoints(context: dg.AssetExecutionContext) -> list[str]:
    """Add the checkpoints this materialization produced to the `checkpoint` partitions, so the
    evaluation stage can benchmark them (adding a key twice is a no-op); returns their keys."""
    keys = checkpoint_keys_for(context.asset_key.to_user_string(), context.partition_key)
    if not keys:
        raise ValueError(f"{context.asset_key.to_user_string()}[{context.partition_key}] produces no checkpoint key")
    context.instance.add_dynamic_partitions(checkpoint_partitions.name, keys)
    return keys
