"""Check results shared by the stages that emit chat tables (Scholar, Tulu)."""

import dagster as dg
import polars as pl


def chat_shape_result(data: pl.DataFrame) -> dg.AssetCheckResult:
    """Unique ids; every row one non-empty user turn then one non-empty assistant turn."""
    bad = [row["id"] for row in data.select("id", "messages").iter_rows(named=True)
           if [m["role"] for m in row["messages"]] != ["user", "assistant"]
           or any(not m["content"].strip() for m in row["messages"])]
    duplicated = data.filter(pl.col("id").is_duplicated())["id"].unique().to_list()
    return dg.AssetCheckResult(passed=not bad and not duplicated and data.height > 0,
                               metadata={"rows": data.height, "malformed_rows": len(bad), "examples": bad[:5],
                                         "duplicate_ids": duplicated[:5]})


def orphans_result(data: pl.DataFrame, parents: pl.DataFrame, parent_asset: str) -> dg.AssetCheckResult:
    """Every row's `parent_id` is a row of `parents` (the lineage to the upstream asset holds)."""
    orphans = data.filter(~pl.col("parent_id").is_in(parents["id"].implode()))["id"].to_list()
    return dg.AssetCheckResult(passed=not orphans, metadata={"orphans": len(orphans), "examples": orphans[:5],
                                                            "parent_asset": parent_asset})
