"""Figures rendered off-screen to PNG bytes, for asset metadata and files beside the data.

Every figure is rendered twice: full size (the file beside the data, the plot a reviewer opens)
and as a sparkline thumbnail of a few hundred bytes (the same axes, colours and data, without
text, ticks or legend), small enough for the Dagster asset page to draw in place.
"""

from __future__ import annotations

import io

# The thumbnail's byte budget: base64 makes it 4/3 longer, and its markdown entry must stay under
# the 1,000 characters the Dagster UI draws in place (defs/metadata.py), title included.
THUMBNAIL_MAX_BYTES = 640
# (width px, height px, palette colours), tried in order until the PNG fits the budget; the last
# one (2 colours, 96x32, 1 bit per pixel: 12 bytes a row) always fits.
THUMBNAIL_SIZES = ((240, 60, 8), (240, 60, 4), (180, 48, 4), (120, 40, 4), (120, 40, 2), (96, 32, 2))
_THUMBNAIL_DPI = 50


class PlotPng(bytes):
    """A rendered figure's PNG bytes, carrying its `thumbnail` (PNG bytes of the sparkline)."""

    thumbnail: bytes

    def __new__(cls, png: bytes, thumbnail: bytes) -> PlotPng:
        self = super().__new__(cls, png)
        self.thumbnail = thumbnail
        return self


def pyplot():
    """`matplotlib.pyplot` on the Agg backend: servers and CI have no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, **savefig_kwargs) -> PlotPng:
    """The figure as PNG bytes, with its thumbnail; the figure is closed (pyplot keeps every open one alive)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig_kwargs)
    try:
        thumbnail = _thumbnail_png(fig)
    finally:
        pyplot().close(fig)
    return PlotPng(buffer.getvalue(), thumbnail)


def _strip_to_sparkline(fig) -> None:
    """Keep the data marks only: text is unreadable at thumbnail size, and anti-aliased edges, markers
    and hatches are what make a small PNG large."""
    for text in list(fig.texts):  # suptitle
        text.remove()
    for ax in fig.axes:
        ax.set_title("")
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        for text in list(ax.texts):
            text.remove()
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        for line in ax.lines:
            line.set_antialiased(False)
            line.set_markersize(0)
            line.set_linewidth(1.5)
        for patch in ax.patches:
            patch.set_antialiased(False)
            patch.set_hatch(None)
            patch.set_linewidth(0)
    fig.set_layout_engine("none")


def _thumbnail_png(fig) -> bytes:
    """The figure as a sparkline PNG of at most THUMBNAIL_MAX_BYTES (palette, no dithering)."""
    from PIL import Image

    _strip_to_sparkline(fig)
    for width, height, colours in THUMBNAIL_SIZES:
        fig.set_size_inches(width / _THUMBNAIL_DPI, height / _THUMBNAIL_DPI)
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.04, top=0.96, wspace=0.06, hspace=0.06)
        rendered = io.BytesIO()
        fig.savefig(rendered, format="png", dpi=_THUMBNAIL_DPI, facecolor="white")
        image = Image.open(rendered).convert("RGB").quantize(colors=colours, dither=Image.Dither.NONE)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        if len(out.getvalue()) <= THUMBNAIL_MAX_BYTES:
            break
    return out.getvalue()
