"""The training curves attached to `finetuned_checkpoint` (PNG bytes; the Dagster layer embeds them)."""

from __future__ import annotations

from collections.abc import Sequence

from luth_pipeline.core.plots import png_bytes, pyplot


def loss_curve_png(steps: Sequence[int], losses: Sequence[float], learning_rates: Sequence[float | None],
                   tokens_per_s: Sequence[float | None], title: str) -> bytes:
    """Three panels: training loss, learning-rate schedule, throughput per logging step."""
    plt = pyplot()

    fig, (loss_ax, lr_ax, tps_ax) = plt.subplots(1, 3, figsize=(12, 3.5))
    loss_ax.plot(steps, losses, marker=".", color="#3b6ea5")
    loss_ax.set(title="training loss (assistant tokens)", xlabel="optimizer step", ylabel="loss")
    lr_points = [(s, lr) for s, lr in zip(steps, learning_rates) if lr is not None]
    if lr_points:
        lr_ax.plot(*zip(*lr_points), color="#c0392b")
    lr_ax.set(title="learning rate", xlabel="optimizer step")
    tps_points = [(s, t) for s, t in zip(steps, tokens_per_s) if t]
    if tps_points:
        tps_ax.plot(*zip(*tps_points), color="#27ae60")
    tps_ax.set(title="throughput", xlabel="optimizer step", ylabel="tokens/s")
    fig.suptitle(title)
    fig.tight_layout()
    return png_bytes(fig, dpi=80)
