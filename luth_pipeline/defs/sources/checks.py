"""A source that yields nothing stops its partition here, before the French filter runs on nothing."""

import warnings

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.defs.metadata import latest_materialization
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.sources.assets import ASSET, source_origin
from luth_pipeline.resources import LuthConfig, LuthStorage

# Checks per source partition are a Dagster preview feature, used knowingly: silence its warning.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


def raw_source_not_empty(context: dg.AssetCheckExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage):
    store, name = luth_storage.store, context.partition_key
    cfg = luth_config.values.sources[name]
    kept, rejected = (store.num_rows(ASSET, name, table) for table in ("data", "rejects"))
    origin = source_origin(cfg)
    record = latest_materialization(context.instance, ASSET, name)
    meta = record.asset_materialization.metadata if record is not None else {}
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
