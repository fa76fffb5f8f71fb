"""The comparison report: base vs fine-tuned vs every merge recipe vs published numbers.

Input: the `benchmark_scores` tables of every evaluated checkpoint (headline metric rows) and
configs/eval/reference_scores.yaml. Output: one comparison table (percent, deltas vs base and vs
the published model of the same base), a markdown rendering with the best merge recipe of each
base model highlighted, and a grouped bar chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml
from pydantic import ValidationError

from luth_pipeline.core.checkpoints import CheckpointKey
from luth_pipeline.core.config.base import ConfigError, StrictModel
from luth_pipeline.core.eval.datasets import resolve
from luth_pipeline.core.plots import png_bytes, pyplot

COMPARISON_SCHEMA = {
    "base_model": pl.String,
    "checkpoint": pl.String,
    "kind": pl.String,
    "recipe": pl.String,
    "language": pl.String,
    "task": pl.String,
    "reference": pl.String,
    "score": pl.Float64,
    "stderr": pl.Float64,
    "delta_vs_base": pl.Float64,
    "published_model": pl.String,
    "published": pl.Float64,
    "delta_vs_published": pl.Float64,
    "best_recipe": pl.Boolean,
}


class PublishedSource(StrictModel):
    citation: str
    url: str


class PublishedRow(StrictModel):
    """One published table row: a released model (`luth`) or its base (`base`) on one suite."""

    model: str
    hub_id: str
    base_model: str  # the `base_models` key of the profile whose checkpoints it is compared with
    role: Literal["luth", "base"]
    language: Literal["fr", "en"]
    source: str
    where: str
    verified: bool
    scores: dict[str, float]

    @property
    def label(self) -> str:
        return f"{self.model} (published: {self.source}{'' if self.verified else ' †'})"


class ReferenceScores(StrictModel):
    sources: dict[str, PublishedSource]
    published: list[PublishedRow]


def load_reference_scores(path: str | Path) -> list[PublishedRow]:
    """configs/eval/reference_scores.yaml: every row names a declared source."""
    path = resolve(path)
    if not path.is_file():
        raise ConfigError(f"reference scores file {path} does not exist: set `eval.reference_scores`")
    try:
        data = ReferenceScores.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid reference scores: {exc}") from None
    for index, row in enumerate(data.published):
        if row.source not in data.sources:
            raise ConfigError(
                f"{path}: published[{index}] ({row.model}, {row.language}) cites source {row.source!r}, "
                f"which is not under `sources:` (known: {', '.join(sorted(data.sources))})"
            )
    return data.published


def best_recipes(headline: pl.DataFrame, language: str = "fr") -> dict[str, str]:
    """Base model -> the merge recipe with the highest mean headline score on `language`."""
    merged = headline.filter((pl.col("kind") == "merged") & (pl.col("language") == language))
    if merged.is_empty():
        return {}
    means = merged.group_by("base_model", "recipe").agg(pl.col("score").mean().alias("mean"))
    best = means.sort(["base_model", "mean", "recipe"], descending=[False, True, False]).unique("base_model", keep="first")
    return dict(zip(best["base_model"], best["recipe"]))


def build_comparison(scores: pl.DataFrame, references: list[PublishedRow]) -> pl.DataFrame:
    """One row per checkpoint × task (headline metric), scores in percent; `published` is the
    released Luth model's figure for that base model and suite (the first such row of the file)."""
    if scores.is_empty():
        return pl.DataFrame(schema=COMPARISON_SCHEMA)
    headline = scores.filter(pl.col("headline"))
    keys = {c: CheckpointKey.parse(c) for c in headline["checkpoint"].unique().to_list()}
    headline = headline.with_columns(
        pl.col("checkpoint").replace_strict({c: k.base_model for c, k in keys.items()}).alias("base_model"),
        pl.col("checkpoint").replace_strict({c: k.kind for c, k in keys.items()}).alias("kind"),
        pl.col("checkpoint").replace_strict({c: k.recipe for c, k in keys.items()}, return_dtype=pl.String).alias("recipe"),
        (pl.col("score") * 100).alias("score"),
        (pl.col("stderr") * 100).alias("stderr"),
    )
    base = headline.filter(pl.col("kind") == "base").select("base_model", "task", pl.col("score").alias("base_score"))
    published_rows = [
        {"base_model": row.base_model, "language": row.language, "reference": task,
         "published_model": row.label, "published": float(value)}
        for row in references if row.role == "luth"
        for task, value in row.scores.items()
    ]
    published = pl.DataFrame(
        published_rows,
        schema={"base_model": pl.String, "language": pl.String, "reference": pl.String, "published_model": pl.String, "published": pl.Float64},
    ).unique(["base_model", "language", "reference"], keep="first")
    best = best_recipes(headline)
    table = (
        headline.join(base, on=["base_model", "task"], how="left")
        .join(published, on=["base_model", "language", "reference"], how="left")
        .with_columns(
            (pl.col("score") - pl.col("base_score")).alias("delta_vs_base"),
            (pl.col("score") - pl.col("published")).alias("delta_vs_published"),
            pl.struct("base_model", "recipe")
            .map_elements(lambda r: best.get(r["base_model"]) == r["recipe"] and r["recipe"] is not None, return_dtype=pl.Boolean)
            .alias("best_recipe"),
        )
    )
    kind_order = {"base": 0, "finetuned": 1, "merged": 2}
    return (
        table.with_columns(pl.col("kind").replace_strict(kind_order, return_dtype=pl.Int64).alias("_order"))
        .sort(["base_model", "language", "task", "_order", "recipe"], nulls_last=False)
        .select(list(COMPARISON_SCHEMA))
    )


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def render_markdown(comparison: pl.DataFrame, settings: dict[str, Any], references: list[PublishedRow] = ()) -> str:
    """Per language: one row per checkpoint, one column per task (score, Δ vs base), then every
    published row for that base model (the released Luth model and the base model itself, each with
    its source; † = not verified in the source); the best merge recipe is marked ★ and bold."""
    lines = ["# Evaluation report", ""]
    if comparison.is_empty():
        return "\n".join(lines + ["No checkpoint has been evaluated yet: materialize `benchmark_scores` first."])
    for language in sorted(comparison["language"].unique().to_list()):
        part = comparison.filter(pl.col("language") == language)
        tasks = sorted(part["task"].unique().to_list())
        lines += [f"## {language.upper()} suite", "", "| checkpoint | " + " | ".join(tasks) + " | mean |", "|---" * (len(tasks) + 2) + "|"]
        for base_model in sorted(part["base_model"].unique().to_list()):
            rows = part.filter(pl.col("base_model") == base_model)
            for checkpoint in rows["checkpoint"].unique(maintain_order=True).to_list():
                cells, scores = [], []
                ck = rows.filter(pl.col("checkpoint") == checkpoint)
                best = bool(ck["best_recipe"].any())
                for task in tasks:
                    row = ck.filter(pl.col("task") == task)
                    if row.is_empty():
                        cells.append("–")
                        continue
                    score, delta = row["score"][0], row["delta_vs_base"][0]
                    scores.append(score)
                    kind = row["kind"][0]
                    cells.append(_fmt(score) + ("" if kind == "base" or delta is None else f" ({_fmt(delta, True)})"))
                mean = _fmt(sum(scores) / len(scores)) if scores else "–"
                label = f"**{checkpoint} ★**" if best else checkpoint
                if best:
                    cells = [f"**{c}**" for c in cells]
                    mean = f"**{mean}**"
                lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean} |")
            reference_of = dict(zip(rows["task"], rows["reference"]))
            for row in references:
                if row.base_model != base_model or row.language != language:
                    continue
                values = [row.scores.get(reference_of.get(t)) for t in tasks]
                known = [v for v in values if v is not None]
                if known:
                    lines.append(
                        f"| *{row.label}* | " + " | ".join(_fmt(v) for v in values)
                        + f" | {_fmt(sum(known) / len(known)) if len(known) == len(values) else '–'} |"
                    )
        lines.append("")
    lines += [
        "Scores in percent (headline metric per task); in parentheses: difference with the base model. "
        "★ = best merge recipe (α) of that base model on the French suite. Published rows: "
        "configs/eval/reference_scores.yaml (source and table of each row; † = quoted, not re-read in "
        "its source; a mean only when every task has a published value).",
        "",
        "## Eval settings",
        "",
    ]
    for key, value in settings.items():
        lines.append(f"- **{key}**: `{value}`")
    return "\n".join(lines)


def bar_chart_png(comparison: pl.DataFrame, language: str = "fr") -> bytes:
    """Grouped bars: one group per task, one bar per checkpoint (+ published numbers, hatched)."""
    plt = pyplot()

    part = comparison.filter(pl.col("language") == language)
    if part.is_empty():
        part = comparison
    tasks = sorted(part["task"].unique().to_list())
    series: list[tuple[str, dict[str, float], bool]] = []
    for checkpoint in part["checkpoint"].unique(maintain_order=True).to_list():
        rows = part.filter(pl.col("checkpoint") == checkpoint)
        label = checkpoint + (" ★" if rows["best_recipe"].any() else "")
        series.append((label, dict(zip(rows["task"], rows["score"])), False))
    published = part.filter(pl.col("published").is_not_null()).unique(["published_model", "task"], keep="first")
    for name in published["published_model"].unique(maintain_order=True).to_list():
        rows = published.filter(pl.col("published_model") == name)
        series.append((name, dict(zip(rows["task"], rows["published"])), True))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(tasks)), 4.5))
    for i, (label, values, hatched) in enumerate(series):
        xs = [t + i * width for t in range(len(tasks))]
        ax.bar(xs, [values.get(task, 0.0) for task in tasks], width, label=label, hatch="//" if hatched else None,
               edgecolor="black" if hatched else None, linewidth=0.5)
    ax.set_xticks([t + 0.4 - width / 2 for t in range(len(tasks))], tasks, rotation=20, ha="right")
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{language.upper()} suite: base vs fine-tuned vs merges vs published")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return png_bytes(fig, dpi=110)
