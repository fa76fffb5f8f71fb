"""Read a source with the real Hugging Face loader and normalize it to the chat schema.

The hub (`load_dataset(hf_id, subset, split=..., streaming=...)`) and shipped fixture files
(`load_dataset("json"|"parquet", data_files=...)`) give the same kind of dataset object, so every
step after loading — `where`, the row cap, the column mapping — is one code path for both.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from luth_pipeline.core.config.base import ConfigError
from luth_pipeline.core.sources.config import SourceConfig
from luth_pipeline.core.sources.normalize import MalformedRow, to_messages

log = logging.getLogger(__name__)
PROGRESS_EVERY = 10_000
T = TypeVar("T")
_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass
class SourceRows:
    """A normalized source: kept chat rows, rejected rows with their reason, and counts."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    read: int = 0
    dropped_by_where: int = 0
    capped: bool = False
    columns: list[str] = field(default_factory=list)

    @property
    def reject_reasons(self) -> dict[str, int]:
        return dict(Counter(r["reason"] for r in self.rejects))


def open_dataset(name: str, cfg: SourceConfig, resolve_path: Callable[[str], Path], split: str | None = None):
    """`datasets.load_dataset` for one split of the hub id, or for the local `data_files` standing in for it."""
    import datasets

    split = split or cfg.splits[0]
    if cfg.data_files:
        listed = cfg.data_files[split] if isinstance(cfg.data_files, dict) else cfg.data_files
        files = [str(resolve_path(f)) for f in listed]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise ConfigError(f"sources.{name}.data_files: {missing} not found; fix the path (the `local` profile's "
                              "files ship in luth_pipeline/demo_data/sources/; README.md there says how they are made)")
        suffixes = {Path(f).suffix for f in files}
        builder = _BUILDERS.get(suffixes.pop()) if len(suffixes) == 1 else None
        if builder is None:
            raise ConfigError(f"sources.{name}.data_files: use one file type among {sorted(_BUILDERS)}, got {files}")
        # The split name is kept so a profile can switch between hub and files without other edits.
        return datasets.load_dataset(builder, data_files={split: files}, split=split, streaming=cfg.streaming)
    try:
        return datasets.load_dataset(cfg.hf_id, cfg.subset, split=split, revision=cfg.revision, streaming=cfg.streaming)
    except ValueError as exc:
        if "split" in str(exc).lower():  # datasets lists the available splits in its message
            raise ConfigError(f"sources.{name}.split: {exc}; set `sources.{name}.split` to one of them") from exc
        raise


def reservoir_sample(items: Iterable[T], k: int, rng: random.Random) -> tuple[list[T], int]:
    """A uniform sample of `k` items from a stream of unknown length (Algorithm R), and the count seen.

    Every item ends up in the sample with probability k/n, whatever the stream's order: a cap on a
    hub dataset must not keep only its first rows (often one origin, one language, one period).
    """
    sample: list[T] = []
    seen = 0
    for item in items:
        seen += 1
        if len(sample) < k:
            sample.append(item)
        else:
            slot = rng.randrange(seen)
            if slot < k:
                sample[slot] = item
    return sample, seen


def _column_names(dataset) -> list[str]:
    return list(getattr(dataset, "column_names", None) or [])


def check_schema(name: str, cfg: SourceConfig, columns: list[str]) -> None:
    """A wrong column name is a config problem, not a bad row: fail once, naming the key to fix."""
    keys = {cfg.messages_column: "messages_column", cfg.prompt_column: "prompt_column",
            cfg.response_column: "response_column", cfg.id_column: "id_column"}
    for column in cfg.required_columns:
        if column not in columns:
            key = keys.get(column) or f"where.{column}"
            raise ConfigError(
                f"sources.{name}.{key}: column {column!r} is not in {cfg.hf_id} "
                f"(columns: {columns}); set `sources.{name}.{key}` in the profile to one of them"
            )


def load_source(name: str, cfg: SourceConfig, resolve_path: Callable[[str], Path],
                logger: logging.Logger | None = None) -> SourceRows:
    """Load, filter, sample (`max_rows`) and normalize one source, split after split.

    Progress goes to `logger` (e.g. Dagster's `context.log`), else to this module's logger.
    """
    logger = logger or log
    out = SourceRows(name)
    several = len(cfg.splits) > 1
    started = time.monotonic()

    def passing_rows() -> Iterator[tuple[str, int, dict[str, Any]]]:
        for split in cfg.splits:
            opened = open_dataset(name, cfg, resolve_path, split)
            columns = _column_names(opened)
            if columns:  # known up front for map-style datasets and most streamed ones
                check_schema(name, cfg, columns)
                out.columns = out.columns or columns
            for index, row in enumerate(opened):
                if index == 0 and not columns:
                    check_schema(name, cfg, list(row))
                    out.columns = out.columns or list(row)
                out.read += 1
                if out.read % PROGRESS_EVERY == 0:
                    logger.info("%s: %d rows read (%.0f rows/s)", name, out.read, out.read / (time.monotonic() - started))
                if any(row.get(col) != value for col, value in cfg.where.items()):
                    out.dropped_by_where += 1
                    continue
                yield split, index, row

    if cfg.max_rows is None:
        chosen: Iterable[tuple[str, int, dict[str, Any]]] = passing_rows()
    else:
        sample, seen = reservoir_sample(passing_rows(), cfg.max_rows, random.Random(f"{cfg.seed}:{name}"))
        out.capped = seen > cfg.max_rows
        order = {split: i for i, split in enumerate(cfg.splits)}
        chosen = sorted(sample, key=lambda item: (order[item[0]], item[1]))  # stream order, stable ids
    for split, index, row in chosen:
        source_id = str(row[cfg.id_column]) if cfg.id_column else (f"{split}:{index}" if several else str(index))
        base = {"id": f"raw/{name}/{source_id}", "source": name, "source_id": source_id,
                "parent_asset": None, "parent_id": None}
        try:
            out.rows.append({**base, "messages": to_messages(cfg, row)})
        except MalformedRow as bad:
            where = f"split {split!r} row {index}" if several else f"row {index}"
            out.rejects.append({**base, "messages": [], "reason": bad.reason,
                                "reason_detail": f"source {name!r} {where}: {bad.detail}"})
    return out
