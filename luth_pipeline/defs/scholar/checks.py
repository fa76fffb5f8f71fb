"""Guards on scholar_extractions (one item per question path) and scholar_exercises (chat shape,
lineage back to the PDFs, LaTeX and language)."""

import dagster as dg
import polars as pl

from luth_pipeline.core.config import Profile
from luth_pipeline.core.scholar.anomalies import french_problem, latex_problem
from luth_pipeline.core.scholar.structure import path_key
from luth_pipeline.defs.chat_checks import chat_shape_result
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.resources import LuthConfig, LuthStorage

ASSET = "scholar_exercises"


def scholar_one_item_per_path(luth_storage: LuthStorage):
    items = luth_storage.store.read("scholar_extractions")
    keys = items.select("exam_id", pl.col("path").map_elements(path_key, return_dtype=pl.String).alias("key"))
    shared = keys.group_by("exam_id", "key").len().filter(pl.col("len") > 1)
    return dg.AssetCheckResult(passed=shared.height == 0 and items["path"].null_count() == 0,
                               metadata={"paths_shared": shared.height, "items_without_path": items["path"].null_count(),
                                         "examples": dg.MetadataValue.json(shared.head(5).to_dicts())})


def scholar_chat_shape(luth_storage: LuthStorage):
    return chat_shape_result(luth_storage.store.read(ASSET))


def scholar_lineage(luth_storage: LuthStorage):
    store = luth_storage.store
    data, items, pdfs = store.read(ASSET), store.read("scholar_extractions"), store.read("scholar_pdfs")
    orphans = data.filter(~pl.col("parent_id").is_in(items["id"].implode()))["id"].to_list()
    known = set(pdfs["sujet_sha256"].to_list()) | set(pdfs["corrige_sha256"].to_list())
    unknown_pdf = [r["id"] for r in data.iter_rows(named=True) if r["sujet_sha256"] not in known or r["corrige_sha256"] not in known]
    return dg.AssetCheckResult(passed=not orphans and not unknown_pdf,
                               metadata={"orphans": orphans[:5], "rows_with_unknown_pdf": unknown_pdf[:5]})


def scholar_latex_and_french(luth_config: LuthConfig, luth_storage: LuthStorage):
    threshold = luth_config.values.scholar.filters.min_french_probability
    problems = {}
    for row in luth_storage.store.read(ASSET).iter_rows(named=True):
        for message in row["messages"]:
            problem = latex_problem(message["content"]) or french_problem(message["content"], threshold)
            if problem:
                problems[row["id"]] = problem
    return dg.AssetCheckResult(passed=not problems, metadata={"rows_with_problems": len(problems),
                                                               "examples": dg.MetadataValue.json(dict(list(problems.items())[:5]))})


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The checks of scholar_extractions and scholar_exercises."""
    return dg.Definitions(asset_checks=[
        dg.asset_check(asset="scholar_extractions", blocking=True,
                       description="One item per question path (exercise > part > number) in each exam: the steps were joined "
                                   "by the path, so two items on one path would share an answer.")(scholar_one_item_per_path),
        dg.asset_check(asset=ASSET, blocking=True,
                       description="Unique ids; every row is one non-empty user turn then one non-empty assistant turn.")(scholar_chat_shape),
        dg.asset_check(asset=ASSET, blocking=True,
                       description="Every exercise leads back to an extracted item and to both stored PDFs (sha256).")(scholar_lineage),
        dg.asset_check(asset=ASSET, description="Re-checks every kept turn: LaTeX parses and the prose is French.")(scholar_latex_and_french),
    ])
