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
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from luth_pipeline.core.sft.config import MixtureInput
from luth_pipeline.core.sft.decontamination import EvalIndex, scan_conversations
from luth_pipeline.core.sft.normalize import RejectedRow, conversation_key, normalize_messages
from luth_pipeline.core.storage import MissingInputError
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
    frame: pl.DataFrame  # CHAT_COLUMNS of the upstream rows


@dataclass
class MixtureResult:
    rows: pl.DataFrame  # SFT_SCHEMA, grouped by split in config order, shuffled within
    rejects: pl.DataFrame  # REJECT_SCHEMA
    split_stats: dict[str, dict[str, int]]  # split → loaded/normalize/duplicate/decontamination/cap/final
    removed_per_eval_set: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def load_inputs(mixture: list[MixtureInput], read: Callable[[str, str | None], pl.DataFrame]) -> tuple[list[LoadedInput], list[str]]:
    """Read each configured input that exists; return them and a description of the missing."""
    loaded, missing = [], []
    for spec in mixture:
        frames = []
        for partition in spec.partitions or [None]:
            label = f"{spec.asset}[{partition}]" if partition else spec.asset
            try:
                frame = read(spec.asset, partition)
            except MissingInputError:
                missing.append(f"{label} → {spec.split}")
                continue
            absent = [c for c in ("id", "messages", "source", "source_id") if c not in frame.columns]
            if absent:
                raise ValueError(f"{label}: chat table lacks columns {absent} (contract: {list(CHAT_COLUMNS)}); fix the producer")
            before = frame.height
            for column, values in spec.where.items():
                if column not in frame.columns:
                    raise ValueError(f"sft.mixture[{spec.split}].where: {label} has no column {column!r} (columns: {frame.columns})")
                frame = frame.filter(pl.col(column).cast(pl.String).is_in(values))
            if before and not frame.height:  # a typo in `where` must not silently empty a split
                missing.append(f"{label} → {spec.split}: `where` {spec.where} matched 0 of {before} rows")
            frames.append(frame.select("id", "messages", "source", pl.col("source_id").cast(pl.String)))
        if frames:
            loaded.append(LoadedInput(spec, pl.concat(frames, how="vertical_relaxed")))
    return loaded, missing


def _stable_rank(row_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{row_id}".encode(), digest_size=8).digest(), "big")


def _reject(parent_asset, parent_id, split, source, reason, detail="") -> dict:
    return {"id": f"sft/{parent_asset}/{parent_id}", "parent_asset": parent_asset, "parent_id": parent_id, "split": split, "source": source, "reason": reason, "detail": detail}


def build_mixture(inputs: list[LoadedInput], index: EvalIndex, seed: int, num_proc: int = 1, missing: list[str] | None = None) -> MixtureResult:
    rejects: list[dict] = []
    stats: dict[str, dict[str, int]] = {}
    candidates: list[dict] = []  # normalized, deduplicated rows
    exact = ExactDeduplicator()
    for position, item in enumerate(inputs):
        spec = item.spec
        split_stats = stats.setdefault(spec.split, dict.fromkeys(("loaded", "normalize", "duplicate", "decontamination", "cap", "final"), 0))
        for row in item.frame.iter_rows(named=True):
            split_stats["loaded"] += 1
            try:
                messages = normalize_messages(row["messages"])
            except RejectedRow as exc:
                split_stats["normalize"] += 1
                rejects.append(_reject(spec.asset, row["id"], spec.split, row["source"], str(exc)))
                continue
            first = exact.duplicate_of(f"{spec.asset}:{row['id']}", conversation_key(messages))
            if first:
                split_stats["duplicate"] += 1
                rejects.append(_reject(spec.asset, row["id"], spec.split, row["source"], "duplicate", f"same conversation as {first}"))
                continue
            candidates.append(
                {"split": spec.split, "messages": messages, "source": row["source"], "source_id": row["source_id"], "parent_asset": spec.asset, "parent_id": row["id"], "_input": position}
            )

    matches = scan_conversations(index, [[m["content"] for m in row["messages"]] for row in candidates], num_proc)
    removed = dict.fromkeys(index.texts_per_set, 0)
    clean: list[dict] = []
    for row, found in zip(candidates, matches):
        if not found:
            clean.append(row)
            continue
        stats[row["split"]]["decontamination"] += 1
        for match in found:
            removed[match.eval_set] += 1
        first = found[0]
        detail = "; ".join(f"{m.eval_set} item {m.item}: '{m.ngram}'" for m in found)
        rejects.append(_reject(row["parent_asset"], row["parent_id"], row["split"], row["source"], f"decontamination:{first.eval_set}", detail))

    rows: list[dict] = []
    split_order = list(dict.fromkeys(item.spec.split for item in inputs))
    for split in split_order:
        members = [r for r in clean if r["split"] == split]
        # Cap/weight per input (an input's `max_rows` is its own); rank by seeded id hash.
        for position in dict.fromkeys(r["_input"] for r in members):
            spec = inputs[position].spec
            mine = sorted((r for r in members if r["_input"] == position), key=lambda r: _stable_rank(r["parent_id"], seed))
            keep = mine if spec.max_rows is None else mine[: spec.max_rows]
            target = round(len(keep) * spec.weight)
            chosen = [(r, 0) for r in keep[: min(target, len(keep))]]
            repeat = 1
            while len(chosen) < target:  # weight > 1: whole extra passes, then a seeded part
                chosen.extend((r, repeat) for r in keep[: target - len(chosen)])
                repeat += 1
            for r in mine[len(set(id(r) for r, _ in chosen)) :]:
                rejects.append(_reject(r["parent_asset"], r["parent_id"], split, r["source"], "cap", f"split {split} capped at {spec.max_rows} rows, weight {spec.weight}"))
                stats[split]["cap"] += 1
            for r, k in chosen:
                row_id = f"sft/{r['parent_asset']}/{r['parent_id']}" + (f"#{k}" if k else "")
                rows.append({"id": row_id, **{c: r[c] for c in ("split", "messages", "source", "source_id", "parent_asset", "parent_id")}})
        shuffled = sorted((r for r in rows if r["split"] == split), key=lambda r: _stable_rank(r["id"], seed + 1))
        rows = [r for r in rows if r["split"] != split] + shuffled
        stats[split]["final"] = len(shuffled)

    frame = pl.DataFrame(rows, schema=SFT_SCHEMA) if rows else pl.DataFrame(schema=SFT_SCHEMA)
    reject_frame = pl.DataFrame(rejects, schema=REJECT_SCHEMA) if rejects else pl.DataFrame(schema=REJECT_SCHEMA)
    return MixtureResult(frame, reject_frame, stats, removed, list(missing or []))
