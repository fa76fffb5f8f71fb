"""What a reviewer reads about a French-filter run: step table, language histogram, tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from luth_pipeline.core.french.filters import StepStats
from luth_pipeline.core.plots import png_bytes, pyplot
from luth_pipeline.core.text.chat import CHAT_COLUMNS

FRENCH_SCHEMA = {**CHAT_COLUMNS, "french_probability": pl.Float64, "language": pl.Utf8, "langid_segments": pl.Int64,
                 "num_chars": pl.Int64, "filters_passed": pl.List(pl.Utf8)}
REJECT_COLUMNS = {"reason": pl.Utf8, "reason_detail": pl.Utf8, "duplicate_of": pl.Utf8}


def frame(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows as a frame with a fixed schema (an empty partition still has the right columns)."""
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=dict(schema), orient="row")


def steps_markdown(stats: Sequence[StepStats]) -> str:
    lines = ["| step | rows in | rows out | rejected | seconds |", "|---|---:|---:|---|---:|"]
    for s in stats:
        rejected = ", ".join(f"{k}: {v}" for k, v in s.rejected.items()) or "–"
        lines.append(f"| {s.name} | {s.rows_in} | {s.rows_out} | {rejected} | {s.seconds:.2f} |")
    return "\n".join(lines)


def language_histogram_png(counts: Mapping[str, int], title: str) -> bytes:
    plt = pyplot()

    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    ax.bar([k for k, _ in ordered], [v for _, v in ordered], color=["#2b6cb0" if k == "fr" else "#a0aec0" for k, _ in ordered])
    ax.set_ylabel("rows")
    ax.set_title(title)
    fig.tight_layout()
    return png_bytes(fig)
