"""Metadata helpers any stage can attach to a dataset materialization.

The UI renders `dagster/column_schema` as the asset's column table and `dagster/column_lineage`
as per-column arrows to upstream columns; together with the row-level (parent_asset, parent_id)
links they let a reviewer go from a column, and then a single row, back to the raw source.

    return dg.MaterializeResult(metadata=dataset_metadata(
        df, uri, upstream="french_samples", derived={"n_tokens": ["messages"]}))
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

if TYPE_CHECKING:
    from luth_pipeline.core.llm.client import GenerationStats
    from luth_pipeline.core.plots import PlotPng

# Columns every chat table carries (CONTRACTS: chat dataset tables).
PROVENANCE_COLUMNS = ("id", "messages", "source", "source_id", "parent_asset", "parent_id")

COLUMN_DESCRIPTIONS = {
    "id": "globally unique, stable row id (`<stage>/<source>/<n>`)",
    "messages": "the conversation: list of {role, content}",
    "source": "the raw dataset the row comes from",
    "source_id": "the row's id in that raw dataset",
    "parent_asset": "asset holding the row this one was derived from (null for raw rows)",
    "parent_id": "`id` of that parent row (follow it with `luth lineage`)",
    "reason": "why the row was rejected",
}


def _type_name(dtype: pl.DataType) -> str:
    # Nested types print in full (e.g. "list[struct[2]]" would hide the field names).
    if isinstance(dtype, pl.List):
        return f"list<{_type_name(dtype.inner)}>"
    if isinstance(dtype, pl.Struct):
        return "struct<" + ", ".join(f"{f.name}: {_type_name(f.dtype)}" for f in dtype.fields) + ">"
    return str(dtype).lower()


def column_schema(df: pl.DataFrame | pl.Schema, descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """`dagster/column_schema` for a polars frame (types, and descriptions where known)."""
    schema = df.schema if isinstance(df, pl.DataFrame) else df
    known = {**COLUMN_DESCRIPTIONS, **(descriptions or {})}
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=_type_name(dtype), description=known.get(name)) for name, dtype in schema.items()]
    )


def column_lineage(
    columns: Iterable[str],
    upstream: str | dg.AssetKey | Iterable[str | dg.AssetKey],
    derived: Mapping[str, Iterable[str]] | None = None,
    new: Iterable[str] = (),
) -> dg.TableColumnLineage:
    """`dagster/column_lineage`: which upstream columns each output column comes from.

    A column present upstream under the same name passes through (provenance columns always do;
    `parent_id` comes from the upstream `id`). `derived` maps a computed column to the upstream
    columns it is computed from; columns in `new` (or with no upstream) get no arrow.
    """
    keys = [upstream] if isinstance(upstream, str | dg.AssetKey) else list(upstream)
    keys = [k if isinstance(k, dg.AssetKey) else dg.AssetKey.from_user_string(k) for k in keys]
    derived = {k: list(v) for k, v in (derived or {}).items()}
    new = set(new)
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for column in columns:
        if column in new:
            continue
        sources = derived.get(column) or (["id"] if column == "parent_id" else [column])
        if column == "parent_asset":
            continue  # a constant (the upstream asset's name), not derived from a column
        if column not in derived and column not in PROVENANCE_COLUMNS:
            continue  # stage-specific column with no declared upstream
        deps[column] = [dg.TableColumnDep(asset_key=key, column_name=src) for key in keys for src in sources]
    return dg.TableColumnLineage(deps_by_column=deps)


def markdown_preview(df: pl.DataFrame, rows: int = 5, width: int = 120) -> str:
    """A short markdown table of the first rows (long cells truncated)."""
    head = df.head(rows)
    def cell(value) -> str:
        text = str(value).replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= width else text[: width - 1] + "…"
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in head.iter_rows()]
    return "\n".join(lines)


def dataset_metadata(
    df: pl.DataFrame,
    uri: str,
    upstream: str | dg.AssetKey | Iterable[str | dg.AssetKey] | None = None,
    derived: Mapping[str, Iterable[str]] | None = None,
    descriptions: Mapping[str, str] | None = None,
    preview_rows: int = 5,
) -> dict[str, dg.MetadataValue | int]:
    """The standard metadata of a dataset table: row count, path, column schema and lineage, preview."""
    metadata: dict = {
        "dagster/row_count": df.height,
        "path": dg.MetadataValue.path(uri),
        "dagster/column_schema": column_schema(df, descriptions),
        "preview": dg.MetadataValue.md(markdown_preview(df, preview_rows)),
    }
    if upstream is not None:
        metadata["dagster/column_lineage"] = column_lineage(df.columns, upstream, derived)
    return metadata


# dagster-webserver draws a markdown entry in place on the asset page only when it is shorter than
# this (ui-core MetadataEntry.tsx: `expandSmallValues && mdStr.length < 1000`); a longer one shows
# as a [Show Markdown] link to a pop-up.
INLINE_MARKDOWN_LIMIT = 1000


def image_markdown(png: bytes, title: str) -> str:
    """Markdown showing a PNG with the image embedded as a data URI: no file server needed, and it
    survives object-store data roots and instance moves."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"


def plot_metadata(png: PlotPng, title: str, key: str) -> dict[str, dg.MetadataValue]:
    """A plot as two markdown entries: `key`, its sparkline thumbnail, drawn in place on the asset
    page, and `<key>_full`, the full-size plot behind [Show Markdown] (the file path, where the
    stage writes one, is its own entry)."""
    if not isinstance(getattr(png, "thumbnail", None), bytes):
        raise TypeError(f"plot_metadata({key!r}): pass the PNG that luth_pipeline.core.plots.png_bytes returns "
                        "(it carries the thumbnail the asset page draws in place)")
    thumbnail = image_markdown(png.thumbnail, title)
    if len(thumbnail) >= INLINE_MARKDOWN_LIMIT:
        raise ValueError(f"plot_metadata({key!r}): the thumbnail entry is {len(thumbnail)} characters; the Dagster UI "
                         f"draws only entries under {INLINE_MARKDOWN_LIMIT} in place: shorten the title {title!r}")
    return {key: dg.MetadataValue.md(thumbnail), f"{key}_full": dg.MetadataValue.md(image_markdown(png, title))}


def card_body(card: str) -> dg.MetadataValue:
    """A Hub card (model or dataset README) as markdown metadata, without its YAML front matter
    (the UI would show it as a paragraph of `key: value` text)."""
    return dg.MetadataValue.md(card.split("---", 2)[-1] if card.startswith("---") else card)


def rejects_preview(rejects: pl.DataFrame, columns: Iterable[str], rows: int = 20, per_reason: int | None = None,
                    empty: str = "no rejected rows") -> dg.MetadataValue:
    """A markdown table of rejected rows with their reason (`per_reason`: at most that many of each reason)."""
    if rejects.is_empty():
        return dg.MetadataValue.md(empty)
    sample = rejects.group_by("reason", maintain_order=True).head(per_reason) if per_reason else rejects
    return dg.MetadataValue.md(markdown_preview(sample.select(list(columns)), rows=rows))


def latest_materialization(instance: dg.DagsterInstance, asset: str, partition: str | None = None):
    """The latest materialization record of `asset` (of that partition when given), or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0] if records else None


def llm_metadata(step: str, stats: GenerationStats) -> dict:
    """LLM usage of one step (calls vs cache hits, failures by reason, tokens, cost) as `llm/<step>/…`."""
    out = {f"llm/{step}/{k}": v for k, v in stats.as_metadata().items()}
    if stats.failures:
        out[f"llm/{step}/failure_reasons"] = dg.MetadataValue.json(dict(stats.failures))
    return out
