"""Row lineage: follow a row's (parent_asset, parent_id) links back to its raw source row.

Every chat table carries `parent_asset` / `parent_id` (CONTRACTS), so a `luth_sft` row can be
walked back through each stage. At every hop we report which table held the row (`data` = kept,
`rejects` = dropped, with its `reason`) and the stage's own decision columns (language score,
filter flags, judge verdicts…), i.e. what every filter decided about this row.

Lookups push an `id == …` filter down into Parquet (row-group statistics), so tracing a row does
not load whole tables into memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
import pyarrow.dataset as pads

from luth_pipeline.core.storage import DatasetStore

# Columns every chat table has; everything else in a row is a stage decision or score.
PROVENANCE = ("id", "messages", "source", "source_id", "parent_asset", "parent_id")
TABLES = ("data", "rejects")
MAX_HOPS = 32


class LineageError(LookupError):
    """A row (or one of its ancestors) cannot be found."""


@dataclass
class LineageStep:
    asset: str
    partition: str  # folder name of the partition (`_all` when unpartitioned)
    table: str  # "data" (kept) or "rejects"
    row: dict[str, Any] = field(repr=False)

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def kept(self) -> bool:
        return self.table == "data"

    @property
    def decisions(self) -> dict[str, Any]:
        """The stage-specific columns of the row: what this stage's filters and scorers said."""
        return {k: v for k, v in self.row.items() if k not in PROVENANCE}

    @property
    def parent(self) -> tuple[str, str] | None:
        """The parent row in this store; None for a raw row or one read from outside (`external`)."""
        parent_asset, parent_id = self.row.get("parent_asset"), self.row.get("parent_id")
        if not parent_asset or parent_id is None or self.external:
            return None
        return str(parent_asset), str(parent_id)

    @property
    def external(self) -> str | None:
        """Where a row read from outside the store came from, e.g. `hf://datasets/kurakurai/luth-sft luth_scholar/17`."""
        parent_asset = self.row.get("parent_asset")
        return f"{parent_asset} {self.row.get('parent_id')}" if parent_asset and "://" in str(parent_asset) else None


def find_row(store: DatasetStore, asset: str, row_id: str) -> LineageStep | None:
    """The row `row_id` of `asset`, searched in every partition's data and rejects tables."""
    for partition in store.partition_dirs(asset):
        for table in TABLES:
            if not store.exists(asset, partition, table):
                continue
            path = store._path(asset, partition, table)
            dataset = pads.dataset(path, filesystem=store.fs, format="parquet")
            if "id" not in dataset.schema.names:
                continue
            found = dataset.to_table(filter=pc.field("id") == row_id)
            if found.num_rows:
                return LineageStep(asset, partition, table, found.slice(0, 1).to_pylist()[0])
    return None


def trace(store: DatasetStore, row_id: str, asset: str = "luth_sft") -> list[LineageStep]:
    """The chain of rows from `asset`'s row `row_id` back to its raw source row (first = asked row)."""
    step = find_row(store, asset, row_id)
    if step is None:
        where = store.uri(asset).rsplit("/", 2)[0]
        if not store.partition_dirs(asset):
            raise LineageError(f"{asset} has no tables under {where}: materialize {asset} first")
        raise LineageError(f"no row with id {row_id!r} in {asset} (looked in {where}, tables {', '.join(TABLES)})")
    chain = [step]
    while (parent := chain[-1].parent) is not None:
        if len(chain) > MAX_HOPS:
            raise LineageError(f"lineage of {row_id!r} is longer than {MAX_HOPS} hops: a parent link cycles")
        parent_asset, parent_id = parent
        step = find_row(store, parent_asset, parent_id)
        if step is None:
            raise LineageError(
                f"{chain[-1].asset} row {chain[-1].id!r} names parent {parent_asset} row {parent_id!r}, "
                f"which does not exist: {parent_asset} was re-materialized since; re-materialize "
                f"{chain[-1].asset} (and its descendants) to relink"
            )
        chain.append(step)
    return chain


def _short(value: Any, width: int = 100) -> str:
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_trace(chain: list[LineageStep], show_messages: bool = True) -> str:
    """Human-readable report: one block per hop, newest first, raw source row last."""
    lines = []
    for depth, step in enumerate(chain):
        verdict = "kept" if step.kept else f"REJECTED ({step.row.get('reason', 'no reason recorded')})"
        partition = "" if step.partition == "_all" else f" [{step.partition}]"
        lines.append(f"{'  ' * depth}{'└─ ' if depth else ''}{step.asset}{partition} · {step.id} · {verdict}")
        pad = "  " * depth + ("   " if depth else "")
        if step.row.get("source") is not None:  # a source row (an exam's PDFs, say) is its own source
            lines.append(f"{pad}  source: {step.row.get('source')} / {step.row.get('source_id')}")
        for name, value in step.decisions.items():
            if name != "reason":
                lines.append(f"{pad}  {name}: {_short(value)}")
        if show_messages and step.row.get("messages"):
            first = step.row["messages"][0]
            lines.append(f"{pad}  first turn ({first.get('role')}): {_short(first.get('content'))}")
    origin = chain[-1].external
    lines.append(f"{len(chain)} hop(s); " + (f"hub row: {origin}" if origin else f"raw row: {chain[-1].asset} {chain[-1].id}"))
    return "\n".join(lines)
