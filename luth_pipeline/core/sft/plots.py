"""Plots attached to the SFT assets (PNG bytes; the Dagster layer writes and embeds them)."""

from __future__ import annotations


import numpy as np

from luth_pipeline.core.plots import png_bytes, pyplot


def length_histogram_png(doc_lengths, bin_fill, capacity: int, title: str) -> bytes:
    """Two panels: document length distribution, and how full the packed bins are."""
    plt = pyplot()

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    lengths = np.asarray(doc_lengths)
    left.hist(lengths, bins=min(60, max(5, lengths.size // 5 or 5)), color="#3b6ea5")
    left.axvline(capacity, color="#c0392b", linestyle="--", label=f"sequence_len {capacity}")
    left.set(title="document length (tokens)", xlabel="tokens", ylabel="documents")
    left.legend()
    fill = np.asarray(bin_fill) / capacity * 100
    right.hist(fill, bins=40, range=(0, 100), color="#27ae60")
    right.set(title=f"bin fill ({fill.mean() if fill.size else 0:.2f}% mean)", xlabel="% of sequence_len used", ylabel="bins")
    fig.suptitle(title)
    fig.tight_layout()
    return png_bytes(fig, dpi=80)
