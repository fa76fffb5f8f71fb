"""Figures rendered off-screen to PNG bytes, for asset metadata and files beside the data."""

from __future__ import annotations

import io


def pyplot():
    """`matplotlib.pyplot` on the Agg backend: servers and CI have no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, **savefig_kwargs) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot keeps every open one alive)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig_kwargs)
    pyplot().close(fig)
    return buffer.getvalue()
