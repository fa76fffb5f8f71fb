"""A source that yields nothing stops its partition here, before the French filter runs on nothing."""

import warnings

import dagster as dg
import pyarrow.dataset as pads

from luth_pipeline.defs.partitions import source_partitions
from luth_pipeline.resources import LuthConfig, LuthStorage

ASSET = "raw_multilingual_dumps"
# Checks per source partition are a Dagster preview feature, used knowingly: silence its warning.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


@dg.asset_check(asset=ASSET, partitions_def=source_partitions, blocking=True,
                description="The source yielded at least one usable row (a wrong split, `where` or column yields none).")
def raw_source_not_empty(context: dg.AssetCheckExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage):
    store, name = luth_storage.store, context.partition_key
    cfg = luth_config.values.sources[name]
    kept, rejected = (pads.dataset(store._path(ASSET, name, table), filesystem=store.fs, format="parquet").count_rows()
                      for table in ("data", "rejects"))
    origin = cfg.data_files or f"{cfg.hf_id}:{cfg.subset or 'default'}/{'+'.join(cfg.splits)}"
    description = (f"{name} yielded {kept} usable row(s) from {origin} ({rejected} malformed)" if kept else
                   f"{name} yielded no usable row from {origin} ({rejected} malformed, `where` {cfg.where or 'none'}): "
                   f"check sources.{name}.split, .where and the column keys")
    return dg.AssetCheckResult(passed=kept > 0, severity=dg.AssetCheckSeverity.ERROR, description=description,
                               metadata={"rows": kept, "rejected": rejected})
