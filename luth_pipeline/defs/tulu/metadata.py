"""Metadata of the Tulu assets: reject counts and a length plot embedded inline (LLM usage:
`defs.metadata.llm_metadata`, shared with the French judge)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import polars as pl

from luth_pipeline.core.plots import png_bytes, pyplot
from luth_pipeline.defs.metadata import plot_metadata


def rejects_metadata(rejects: pl.DataFrame) -> dict:
    counts = Counter(zip(rejects["step"].to_list(), rejects["reason"].to_list())) if "step" in rejects.columns \
        else Counter(("load", r) for r in rejects["reason"].to_list())
    table = "| step | reason | rows |\n|---|---|---|\n" + "\n".join(f"| {s} | {r} | {n} |" for (s, r), n in counts.most_common())
    return {"rejected": rejects.height, "rejects_by_reason": dg.MetadataValue.md(table if counts else "no rejects")}


def length_plot(lengths: dict[str, list[int]], title: str, path: Path) -> dict:
    """A per-source histogram of character lengths, written beside the data and shown inline."""
    fig, ax = pyplot().subplots(figsize=(6, 3.2))
    for label, values in lengths.items():
        if values:
            ax.hist(values, bins=20, alpha=0.6, label=f"{label} (n={len(values)})")
    ax.set_xlabel("characters")
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = png_bytes(fig, dpi=90)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return {"length_plot_path": dg.MetadataValue.path(str(path)), **plot_metadata(png, "lengths", "length_plot")}
