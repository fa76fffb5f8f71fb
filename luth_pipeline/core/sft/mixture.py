"""The Luth-SFT mixture: upstream chat tables → normalized, deduplicated, decontaminated splits.

Order of operations (each step's removals go to the reject table with a `reason`):
1. read every configured input that exists (missing ones are reported, not fatal);
2. normalize the chat format (`normalize:*` rejects);
3. exact dedup across sources on the normalized conversation — the first occurrence in config
   order wins (`duplicate` rejects name the kept row);
4. n-gram decontamination against every configured eval set (`decontamination:<set>`);
5. per split: cap (`max_rows`) and weight, choosing rows by a seeded hash of their id so the
   choice is stable when upstream row order changes (`cap` rejects);
6. deterministic shuffle within each split (seed).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from luth_pipeline.core.sft.config import MixtureInput
from luth_pipeline.core.sft.decontamination import EvalIndex, scan_conversations
from luth_pipeline.core.sft.normalize import RejectedRow, conversation_key, normalize_messages
from luth_pipeline.core.storage import DatasetStore, MissingInputError
from luth_pipeline.core.text.chat import CHAT_COLUMNS, MESSAGES_DTYPE
from luth_pipeline.core.text.dedup import ExactDeduplicator
SFT_SCHEMA = {
    "id": pl.String,
    "split": pl.String,
    "messages": MESSAGES_DTYPE,
    "source": pl.String,
    "source_id": pl.String,
    "parent_asset": pl.String,
    "parent_id": pl.String,
}
REJECT_SCHEMA = {
    "id": pl.String,
    "parent_asset": pl.String,
    "parent_id": pl.String,
    "split": pl.String,
    "source": pl.String,
    "reason": pl.String,
    "detail": pl.String,
}


@dataclass
class LoadedInput:
    spec: MixtureInput
    # CHAT_COLUMNS of the upstream rows: a whole frame, or slices read one at a time from the store
    # (`load_inputs`), so the mixture never holds a whole input table.
    rows: pl.DataFrame | Iterable[pl.DataFrame]

    def slices(self) -> Iterator[pl.DataFrame]:
        if isinstance(self.rows, pl.DataFrame):
            yield from self.rows.iter_slices(SLICE_ROWS)
        else:
            yield from self.rows


@dataclass
class MixtureResult:
    rows: pl.DataFrame  # SFT_SCHEMA, grouped by split in config order, shuffled within
    rejects: pl.DataFrame  # REJECT_SCHEMA
    split_stats: dict[str, dict[str, int]]  # split → loaded/normalize/duplicate/decontamination/cap/final
    removed_per_eval_set: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def load_inputs(mixture: list[MixtureInput], store: DatasetStore) -> tuple[list[LoadedInput], list[str]]:
    """Each configured input that exists, as slices read lazily from the store (only the columns
    the mixture uses); and a description of the missing ones. Columns and `where` are checked
    here, from the Parquet schema and the `where` columns alone, before any conversation is read."""
    loaded, missing = [], []
    for spec in mixture:
        partitions = []
        for partition in spec.partitions or [None]:
            label = f"{spec.asset}[{partition}]" if partition else spec.asset
            try:
                columns = store.schema(spec.asset, partition).names
            except MissingInputError:
                missing.append(f"{label} → {spec.split}")
                continue
            absent = [c for c in ("id", "messages", "source", "source_id") if c not in columns]
            if absent:
                raise ValueError(f"{label}: chat table lacks columns {absent} (contract: {list(CHAT_COLUMNS)}); fix the producer")
            for column in spec.where:
                if column not in columns:
                    raise ValueError(f"sft.mixture[{spec.split}].where: {label} has no column {column!r} (columns: {columns})")
            if spec.where:
                keys = store.read(spec.asset, partition, columns=list(spec.where))
                if keys.height and not _matching(keys, spec.where).height:  # a typo in `where` must not silently empty a split
                    missing.append(f"{label} → {spec.split}: `where` {spec.where} matched 0 of {keys.height} rows")
            partitions.append(partition)
        if partitions:
            loaded.append(LoadedInput(spec, _read_slices(store, spec, partitions)))
    return loaded, missing


def _matching(frame: pl.DataFrame, where: dict[str, list[str]]) -> pl.DataFrame:
    for column, values in where.items():
        frame = frame.filter(pl.col(column).cast(pl.String).is_in(values))
    return frame


def _read_slices(store: DatasetStore, spec: MixtureInput, partitions: list[str | None]) -> Iterator[pl.DataFrame]:
    columns = list(dict.fromkeys(["id", "messages", "source", "source_id", *spec.where]))
    for partition in partitions:
        for batch in store.iter_batches(spec.asset, partition, columns=columns, batch_size=SLICE_ROWS):
            frame = _matching(pl.from_arrow(batch), spec.where)
            yield frame.select("id", "messages", "source", pl.col("source_id").cast(pl.String))


def _stable_rank(row_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{row_id}".encode(), digest_size=8).digest(), "big")


def _reject(parent_asset, parent_id, split, source, reason, detail="") -> dict:
    return {"id": f"sft/{parent_asset}/{parent_id}", "parent_asset": parent_asset, "parent_id": parent_id, "split": split, "source": source, "reason": reason, "detail": detail}


# Rows turned into Python objects at a time (normalize, dedup, decontamination scan); the kept rows
# go back to Arrow (spilled to disk), so memory never holds the mixture as Python objects.
SLICE_ROWS = 20_000  # the size at which decontamination scans with worker processes
_CANDIDATE_SCHEMA = {**{c: SFT_SCHEMA[c] for c in ("split", "messages", "source", "source_id", "parent_asset", "parent_id")}, "_input": pl.Int64, "_rank": pl.UInt64}


def _candidates(item: LoadedInput, position: int, index: EvalIndex, seed: int, num_proc: int, exact: ExactDeduplicator,
                stats: dict[str, int], removed: dict[str, int], rejects: list[dict]) -> Iterator[pl.DataFrame]:
    """One input's rows that pass normalization, cross-source dedup and decontamination, slice by slice."""
    spec = item.spec
    for frame in item.slices():
        kept: list[dict] = []
        for row in frame.iter_rows(named=True):
            stats["loaded"] += 1
            try:
                messages = normalize_messages(row["messages"])
            except RejectedRow as exc:
                stats["normalize"] += 1
                rejects.append(_reject(spec.asset, row["id"], spec.split, row["source"], str(exc)))
                continue
            first = exact.duplicate_of(f"{spec.asset}:{row['id']}", conversation_key(messages))
            if first:
                stats["duplicate"] += 1
                rejects.append(_reject(spec.asset, row["id"], spec.split, row["source"], "duplicate", f"same conversation as {first}"))
                continue
            kept.append({"split": spec.split, "messages": messages, "source": row["source"], "source_id": row["source_id"],
                         "parent_asset": spec.asset, "parent_id": row["id"], "_input": position, "_rank": _stable_rank(row["id"], seed)})
        matches = scan_conversations(index, [[m["content"] for m in row["messages"]] for row in kept], num_proc)
        clean = []
        for row, found in zip(kept, matches):
            if not found:
                clean.append(row)
                continue
            stats["decontamination"] += 1
            for match in found:
                removed[match.eval_set] += 1
            detail = "; ".join(f"{m.eval_set} item {m.item}: '{m.ngram}'" for m in found)
            rejects.append(_reject(row["parent_asset"], row["parent_id"], row["split"], row["source"], f"decontamination:{found[0].eval_set}", detail))
        if clean:
            yield pl.DataFrame(clean, schema=_CANDIDATE_SCHEMA)


def _capped(candidates: pl.DataFrame, spec: MixtureInput, split: str, stats: dict[str, int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cap/weight one input's candidates (its own `max_rows`), choosing by seeded id hash; returns
    the chosen rows with their final ids (repeats get `#k`) and the capped-out ones."""
    ranked = candidates.sort("_rank", maintain_order=True)
    keep = ranked.height if spec.max_rows is None else min(spec.max_rows, ranked.height)
    target = round(keep * spec.weight)
    unique = min(target, keep)
    passes = [ranked.head(unique).with_columns(pl.lit(0).alias("_repeat"))]
    repeat, chosen = 1, unique
    while chosen < target:  # weight > 1: whole extra passes, then a seeded part
        extra = min(keep, target - chosen)
        passes.append(ranked.head(extra).with_columns(pl.lit(repeat).alias("_repeat")))
        chosen, repeat = chosen + extra, repeat + 1
    capped = ranked.slice(unique)
    stats["cap"] += capped.height
    rows = pl.concat(passes).with_columns(
        id=pl.concat_str(pl.lit("sft/"), "parent_asset", pl.lit("/"), "parent_id")
        + pl.when(pl.col("_repeat") > 0).then(pl.lit("#") + pl.col("_repeat").cast(pl.String)).otherwise(pl.lit(""))
    )
    cap_rejects = capped.select(
        id=pl.concat_str(pl.lit("sft/"), "parent_asset", pl.lit("/"), "parent_id"), parent_asset="parent_asset", parent_id="parent_id",
        split=pl.lit(split), source="source", reason=pl.lit("cap"), detail=pl.lit(f"split {split} capped at {spec.max_rows} rows, weight {spec.weight}"),
    )
    return rows.drop("_repeat"), cap_rejects


def build_mixture(inputs: list[LoadedInput], index: EvalIndex, seed: int, num_proc: int = 1, missing: list[str] | None = None) -> MixtureResult:
    """The mixture (module docstring). Inputs are processed slice by slice and released once read
    (`LoadedInput.rows` is emptied); the kept conversations are spilled to memory-mapped Arrow files
    while caps, weights and the shuffle work on the small columns, then gathered once in final order:
    memory holds the mixture's text once, not once per step."""
    rejects: list[dict] = []
    stats: dict[str, dict[str, int]] = {}
    removed = dict.fromkeys(index.texts_per_set, 0)
    exact = ExactDeduplicator()  # across inputs: the first occurrence in config order wins
    with tempfile.TemporaryDirectory(prefix="luth_sft_mixture_") as scratch:
        keys: list[pl.DataFrame] = []
        conversations: list[pl.DataFrame] = []
        for position, item in enumerate(inputs):
            split_stats = stats.setdefault(item.spec.split, dict.fromkeys(("loaded", "normalize", "duplicate", "decontamination", "cap", "final"), 0))
            for frame in _candidates(item, position, index, seed, num_proc, exact, split_stats, removed, rejects):
                path = Path(scratch) / f"{len(keys):06d}.arrow"
                frame.select("messages").write_ipc(path, compression="uncompressed")  # uncompressed: memory-mappable
                conversations.append(pl.read_ipc(path, memory_map=True))
                keys.append(frame.drop("messages"))
            item.rows = []  # release a whole input frame once read
        offset, candidates = 0, []
        for frame in keys:  # `_row`: the row's position in the spilled conversations
            candidates.append(frame.with_columns(_row=pl.int_range(offset, offset + frame.height, dtype=pl.Int64)))
            offset += frame.height

        schema = {**{c: t for c, t in _CANDIDATE_SCHEMA.items() if c != "messages"}, "_row": pl.Int64}
        candidates = pl.concat(candidates) if candidates else pl.DataFrame(schema=schema)
        splits: list[pl.DataFrame] = []
        cap_rejects: list[pl.DataFrame] = []
        for split in dict.fromkeys(item.spec.split for item in inputs):
            chosen = []
            for position, item in enumerate(inputs):
                mine = candidates.filter(pl.col("_input") == position)
                if item.spec.split == split and mine.height:
                    rows, capped = _capped(mine, item.spec, split, stats[split])
                    chosen.append(rows)
                    cap_rejects.append(capped)
            if not chosen:
                continue
            rows = pl.concat(chosen)
            # Deterministic shuffle within the split: order by a seeded hash of the final id.
            order = pl.Series([_stable_rank(row_id, seed + 1) for row_id in rows["id"].to_list()], dtype=pl.UInt64)
            splits.append(rows.with_columns(_order=order).sort("_order", maintain_order=True))
            stats[split]["final"] = splits[-1].height

        if splits:
            selection = pl.concat(splits)
            messages = pl.concat(conversations)["messages"].gather(selection["_row"])  # the one copy of the text
            frame = selection.with_columns(messages=messages).select(list(SFT_SCHEMA))
        else:
            frame = pl.DataFrame(schema=SFT_SCHEMA)
    reject_frame = pl.concat([pl.DataFrame(rejects, schema=REJECT_SCHEMA) if rejects else pl.DataFrame(schema=REJECT_SCHEMA)]
                             + [c.cast(REJECT_SCHEMA) for c in cap_rejects])
    return MixtureResult(frame, reject_frame, stats, removed, list(missing or []))
