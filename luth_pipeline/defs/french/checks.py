"""Guards on french_samples, per source partition: French share, empty turns, duplicate ids.

The French-share check re-reads a sample of kept rows as whole conversations with the other detector
(seeded langdetect, where the filter uses fastText per turn), so it guards the filter's decisions,
not just its own bookkeeping.
"""

import warnings

import dagster as dg
import polars as pl

from luth_pipeline.core.config import Profile
from luth_pipeline.core.text.chat import conversation_text
from luth_pipeline.core.text.langid import LanguageIdentifier
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.resources import LuthConfig, LuthStorage

ASSET = "french_samples"
SHARE_SAMPLE = 200
# Checks per source partition are a Dagster preview feature, used knowingly: silence its warning.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning)


def french_share(context: dg.AssetCheckExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage):
    profile = luth_config.values
    cfg, turns = profile.french, profile.sources[context.partition_key].language_id_on
    data = luth_storage.store.read(ASSET, context.partition_key)
    sample = data.sample(n=min(SHARE_SAMPLE, data.height), seed=profile.seed) if data.height else data
    # French = langdetect's most likely language, independent of the filter's detector and threshold
    reread = LanguageIdentifier(language=cfg.language, backend="langdetect", seed=cfg.langdetect_seed)
    french = sum(reread.text(conversation_text(m, turns)).language == cfg.language for m in sample["messages"].to_list())
    share = french / sample.height if sample.height else 0.0
    return dg.AssetCheckResult(
        passed=sample.height > 0 and share >= cfg.min_french_share,
        metadata={"french_share": share, "rows_checked": sample.height, "threshold": cfg.min_french_share},
    )


def no_empty_turns(context: dg.AssetCheckExecutionContext, luth_storage: LuthStorage):
    data = luth_storage.store.read(ASSET, context.partition_key)
    empty = data.filter(pl.col("messages").list.eval(pl.element().struct.field("content").str.strip_chars() == "").list.any())
    return dg.AssetCheckResult(passed=empty.is_empty(),
                               metadata={"rows_with_empty_turns": empty.height, "examples": empty["id"].head(5).to_list()})


def no_duplicate_ids(context: dg.AssetCheckExecutionContext, luth_storage: LuthStorage):
    store = luth_storage.store
    ids = pl.concat([store.read(ASSET, context.partition_key)["id"],
                     store.read(ASSET, context.partition_key, table="rejects")["id"]])
    duplicated = ids.filter(ids.is_duplicated()).unique().sort()
    return dg.AssetCheckResult(passed=duplicated.is_empty(),
                               metadata={"duplicate_ids": duplicated.len(), "examples": duplicated.head(5).to_list()})


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The blocking checks of french_samples, per source partition."""
    return dg.Definitions(asset_checks=[
        dg.asset_check(asset=ASSET, partitions_def=partitions.sources, blocking=True,
                       description="Share of kept rows whose most likely language per seeded langdetect (whole conversation) is French "
                                   "≥ french.min_french_share.")(french_share),
        dg.asset_check(asset=ASSET, partitions_def=partitions.sources, blocking=True,
                       description="No kept conversation has a turn without text.")(no_empty_turns),
        dg.asset_check(asset=ASSET, partitions_def=partitions.sources, blocking=True,
                       description="Row ids are unique across the kept and rejected tables.")(no_duplicate_ids),
    ])
