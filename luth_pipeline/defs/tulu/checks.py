"""Guards on tulu_answers_fr: chat shape, lineage to the translated prompts, French answers."""

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.tulu.checks import french_probability
from luth_pipeline.defs.chat_checks import chat_shape_result, orphans_result
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.resources import LuthConfig, LuthStorage

ASSET = "tulu_answers_fr"


def tulu_chat_shape(luth_storage: LuthStorage):
    return chat_shape_result(luth_storage.store.read(ASSET))


def tulu_lineage(luth_storage: LuthStorage):
    store = luth_storage.store
    return orphans_result(store.read(ASSET), store.read("tulu_prompts_fr"), "tulu_prompts_fr")


def tulu_french(luth_config: LuthConfig, luth_storage: LuthStorage):
    profile = luth_config.values
    thresholds = {"user": profile.tulu.translation_checks.min_french_probability,
                  "assistant": profile.tulu.answer_checks.min_french_probability}
    not_french = [row["id"] for row in luth_storage.store.read(ASSET).iter_rows(named=True)
                  if any(french_probability(m["content"]) < thresholds.get(m["role"], 0.0) for m in row["messages"])]
    return dg.AssetCheckResult(passed=not not_french, metadata={"rows_not_french": len(not_french), "examples": not_french[:5]})


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The blocking checks of tulu_answers_fr."""
    return dg.Definitions(asset_checks=[
        dg.asset_check(asset=ASSET, blocking=True,
                       description="Unique ids; every row is one non-empty user turn (the French prompt) then one "
                                   "non-empty assistant turn (the teacher's answer).")(tulu_chat_shape),
        dg.asset_check(asset=ASSET, blocking=True,
                       description="Every answer leads back to a kept row of tulu_prompts_fr (and so to its Tulu id).")(tulu_lineage),
        dg.asset_check(asset=ASSET, blocking=True,
                       description="Both turns of every row are French (seeded langdetect on the prose, code and LaTeX "
                                   "set aside, as the stage reads them): the prompt ≥ tulu.translation_checks."
                                   "min_french_probability, the answer ≥ tulu.answer_checks.min_french_probability.")(tulu_french),
    ])
