"""raw_multilingual_dumps: each source of the French mixture, read and normalized to chat rows."""

import dagster as dg
import polars as pl

from luth_pipeline.core.config import Profile
from luth_pipeline.core.french.report import frame
from luth_pipeline.core.text.chat import CHAT_COLUMNS
from luth_pipeline.core.sources import load_source
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.publish import publish_table
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage

ASSET = "raw_multilingual_dumps"


def _code_version(profile: Profile) -> str:
    sources = profile.sources
    files = [profile.resolve_path(f) for cfg in sources.values() for f in (cfg.data_files or [])]
    return code_version("sources", {name: cfg.model_dump(mode="json") for name, cfg in sources.items()}, files=files)


def source_origin(cfg) -> str | list[str]:
    """Where a source's rows come from, for logs and metadata: its fixture files or hub dataset."""
    return cfg.data_files or f"{cfg.hf_id}:{cfg.subset or 'default'}/{'+'.join(cfg.splits)}"


def raw_multilingual_dumps(
    context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage
) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    name = context.partition_key
    cfg = profile.sources[name]
    origin = source_origin(cfg)
    context.log.info(f"{name}: loading {origin} (streaming={cfg.streaming}, max_rows={cfg.max_rows})")
    loaded = load_source(name, cfg, profile.resolve_path, logger=context.log)
    data = frame(loaded.rows, CHAT_COLUMNS)
    rejects = frame(loaded.rejects, {**CHAT_COLUMNS, "reason": pl.Utf8, "reason_detail": pl.Utf8})
    metadata = publish_table(store, ASSET, data, rejects, partition=name)
    context.log.info(f"{name}: {data.height} rows, {rejects.height} rejected {loaded.reject_reasons or ''} -> {metadata['path'].value}")
    return dg.MaterializeResult(metadata={
        **metadata,
        "rows_read": loaded.read,
        "rows_dropped_by_where": loaded.dropped_by_where,
        "rows_rejected": rejects.height,
        "rejected_by_reason": dg.MetadataValue.json(loaded.reject_reasons),
        "capped_at_max_rows": loaded.capped,
        "origin": dg.MetadataValue.text(str(origin)),
        "hf_id": dg.MetadataValue.text(cfg.hf_id),
        "license": dg.MetadataValue.text(cfg.license),
        "source_columns": dg.MetadataValue.json(loaded.columns),
    })


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The raw source asset of `profile`, one partition per configured source."""
    return dg.Definitions(assets=[
        dg.asset(
            key=ASSET,
            partitions_def=partitions.sources,
            group_name="sources",
            kinds={"huggingface", "parquet"},
            code_version=_code_version(profile),
            description=(
                "One source of the French mixture (smoltalk2, aya_dataset, CroissantLLM SFT, openhermes-fr) read with "
                "`datasets.load_dataset` (streamed from the hub in `gpu`, shipped fixture files in `local`), filtered by "
                "`where` (e.g. aya's French rows), sampled uniformly at `max_rows` (seeded reservoir over the whole stream), normalized to chat `messages` with provenance. Malformed rows go to the "
                "`rejects` table with their reason."
            ),
        )(one_writer_per_partition(raw_multilingual_dumps)),
    ])
