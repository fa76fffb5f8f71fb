"""The plot of the Tulu assets (PNG bytes; the Dagster layer writes and embeds it)."""

from __future__ import annotations

from luth_pipeline.core.plots import PlotPng, png_bytes, pyplot


def char_length_histogram_png(lengths: dict[str, list[int]], title: str) -> PlotPng:
    """A per-source (or before/after) histogram of character lengths."""
    fig, ax = pyplot().subplots(figsize=(6, 3.2))
    for label, values in lengths.items():
        if values:
            ax.hist(values, bins=20, alpha=0.6, label=f"{label} (n={len(values)})")
    ax.set_xlabel("characters")
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png_bytes(fig, dpi=90)
