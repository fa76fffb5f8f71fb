"""Reject counts of the Tulu assets, by step and reason (tables and plots: `defs.publish`; LLM usage:
`defs.metadata.llm_metadata`, shared with the French judge)."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import polars as pl


def rejects_metadata(rejects: pl.DataFrame) -> dict:
    counts = Counter(zip(rejects["step"].to_list(), rejects["reason"].to_list())) if "step" in rejects.columns \
        else Counter(("load", r) for r in rejects["reason"].to_list())
    table = "| step | reason | rows |\n|---|---|---|\n" + "\n".join(f"| {s} | {r} | {n} |" for (s, r), n in counts.most_common())
    return {"rejected": rejects.height, "rejects_by_reason": dg.MetadataValue.md(table if counts else "no rejects")}
