"""A source that yields nothing stops its partition here, before the French filter runs on nothing."""

import warnings

import dagster as dg
import pyarrow.dataset as pads

from luth_pipeline.core.config import Profile
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.resources import LuthConfig, LuthStorage

ASSET = "raw_multilingual_dumps"
# Checks per source partition are a Dagster preview feature, used knowingly: silence its warning.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


def raw_source_not_empty(context: dg.AssetCheckExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage):
    store, name = luth_storage.store, context.partition_key
    cfg = luth_config.values.sources[name]
    kept, rejected = (pads.dataset(store._path(ASSET, name, table), filesystem=store.fs, format="parquet").count_rows()
                      for table in ("data", "rejects"))
    origin = cfg.data_files or f"{cfg.hf_id}:{cfg.subset or 'default'}/{'+'.join(cfg.splits)}"
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(ASSET), asset_partitions=[name]), limit=1).records
    meta = records[0].asset_materialization.metadata if records else {}
    read, dropped = (meta[key].value if key in meta else "?" for key in ("rows_read", "rows_dropped_by_where"))
    counts = f"{read} read, {dropped} dropped by `where` {cfg.where or '{}'}, {rejected} malformed"
    description = (f"{name}: {kept} usable row(s) from {origin} ({counts})" if kept else
                   f"{name} yielded no usable row from {origin} ({counts}): check sources.{name}.split, .where and the column keys")
    return dg.AssetCheckResult(passed=kept > 0, severity=dg.AssetCheckSeverity.ERROR, description=description,
                               metadata={"rows": kept, "rejected": rejected, "rows_read": read, "rows_dropped_by_where": dropped})


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The blocking check of each source partition."""
    return dg.Definitions(asset_checks=[
        dg.asset_check(asset=ASSET, partitions_def=partitions.sources, blocking=True,
                       description="The source yielded at least one usable row (a wrong split, `where` or column yields none).")(raw_source_not_empty),
    ])
