"""Luth-SFT split sizes against the expected ones (the published Luth-SFT in `gpu`).

A source that silently yields nothing, or a wrong split/filter that yields a tenth of what
upstream had, shows here as numbers before anyone trains on the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.dataset as pads

from luth_pipeline.core.sft.config import SFTConfig, SplitSizeConfig
from luth_pipeline.core.storage import DatasetStore


@dataclass(frozen=True)
class SplitSize:
    split: str
    rows: int
    expected: int | None

    @property
    def ratio(self) -> float | None:
        return round(self.rows / self.expected, 4) if self.expected else None


def configured_splits(config: SFTConfig) -> list[str]:
    """The splits the profile asks for: the published ones chosen, or the mixture's (config order)."""
    if config.source == "published":
        return list(config.published.splits)
    return list(dict.fromkeys(item.split for item in config.mixture))


def split_counts(store: DatasetStore, asset: str = "luth_sft") -> dict[str, int]:
    """Rows per split of the flat table, reading the `split` column only (no conversation text)."""
    table = pads.dataset(store._path(asset, None, "data"), filesystem=store.fs, format="parquet").to_table(columns=["split"])
    counts = table.group_by("split").aggregate([("split", "count")]).to_pylist()
    return {row["split"]: row["split_count"] for row in counts}


def split_size_problems(counts: dict[str, int], configured: list[str], config: SplitSizeConfig) -> tuple[list[str], list[SplitSize]]:
    """Problems (empty configured splits, sizes out of tolerance) and the table behind them."""
    names = list(dict.fromkeys([*configured, *config.expected, *counts]))
    table = [SplitSize(name, counts.get(name, 0), config.expected.get(name)) for name in names]
    problems = []
    for size in table:
        if size.rows == 0 and (size.split in configured or size.expected):
            expected = f" (expected ≈ {size.expected:,})" if size.expected else ""
            problems.append(f"split {size.split} has 0 rows{expected}: its input yielded nothing (see luth_sft's missing_inputs)")
        elif size.expected and abs(size.rows - size.expected) > config.tolerance * size.expected:
            problems.append(
                f"split {size.split} has {size.rows:,} rows, expected {size.expected:,} ± {config.tolerance:.0%} "
                f"(ratio {size.ratio}): check its source's split/where/filters"
            )
    return problems, table
