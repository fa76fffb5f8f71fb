"""What a reviewer wants to see about a merge: the per-layer share of the fine-tuned model."""

from __future__ import annotations

from luth_pipeline.core.plots import png_bytes, pyplot


def schedule_table(schedule: dict[str, list[float]]) -> str:
    """Markdown table: one row per layer, the fine-tuned share (t or weight) of attention and MLP."""
    groups = sorted(schedule)
    rows = max((len(v) for v in schedule.values()), default=0)
    lines = ["| layer | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for layer in range(rows):
        lines.append(f"| {layer} | " + " | ".join(f"{schedule[g][layer]:.3f}" for g in groups) + " |")
    return "\n".join(lines)


def schedule_plot_png(schedule: dict[str, list[float]], title: str) -> bytes:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 3), dpi=100)
    for group, values in sorted(schedule.items()):
        ax.plot(range(len(values)), values, marker="o", label=group)
    ax.set_xlabel("layer")
    ax.set_ylabel("fine-tuned share (t / weight)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png_bytes(fig)
