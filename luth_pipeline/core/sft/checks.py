"""Validations behind the SFT asset checks: each returns the list of problems found (empty = ok)."""

from __future__ import annotations

import polars as pl

from luth_pipeline.core.config import Profile
from luth_pipeline.core.sft.build import dataset_folder
from luth_pipeline.core.sft.decontamination import build_index, decontamination_sets, scan_conversations
from luth_pipeline.core.sft.mixture import SFT_SCHEMA
from luth_pipeline.core.sft.normalize import RejectedRow, normalize_messages
from luth_pipeline.core.sft.packing import IGNORE_INDEX, PACKED_COLUMNS
from luth_pipeline.core.storage import DatasetStore

PACKED_SCHEMA = {
    "input_ids": pl.List(pl.Int32),
    "labels": pl.List(pl.Int32),
    "position_ids": pl.List(pl.Int32),
    "seq_lens": pl.List(pl.Int32),
    "doc_ids": pl.List(pl.String),
}


def decontamination_problems(profile: Profile, report: pl.DataFrame, rows: pl.DataFrame) -> tuple[list[str], int]:
    """Every configured eval set was indexed (with some n-grams) and the final rows match none."""
    config = profile.sft.decontamination
    eval_sets = decontamination_sets(config, profile.eval)
    problems = []
    done = {row["eval_set"]: row for row in report.iter_rows(named=True)}
    for spec in eval_sets:
        entry = done.get(spec.name)
        if entry is None:
            problems.append(f"eval set {spec.name} was not part of the decontamination run: re-materialize luth_sft")
        elif entry["ngrams"] == 0:
            problems.append(f"eval set {spec.name} gave no n-gram (texts: {entry['texts']}): check its text_fields/data files")
        elif entry["ngram_size"] != config.ngram:
            problems.append(f"eval set {spec.name} was indexed with {entry['ngram_size']}-grams, config says {config.ngram}")
    index = build_index(eval_sets, config, profile.resolve_path)
    conversations = [[m["content"] for m in messages] for messages in rows["messages"].to_list()]
    for row_id, found in zip(rows["id"].to_list(), scan_conversations(index, conversations, profile.num_proc or 1)):
        for match in found:
            problems.append(f"row {row_id} overlaps {match.eval_set} item {match.item}: '{match.ngram}'")
    return problems, rows.height


def sft_schema_problems(rows: pl.DataFrame) -> list[str]:
    problems = [
        f"column {name}: expected {dtype}, got {rows.schema.get(name)}" for name, dtype in SFT_SCHEMA.items() if rows.schema.get(name) != dtype
    ]
    if problems:
        return problems
    for column in ("id", "messages", "source", "split"):
        nulls = rows[column].null_count()
        if nulls:
            problems.append(f"column {column} has {nulls} null(s)")
    duplicated = rows.filter(pl.col("id").is_duplicated())["id"].unique().to_list()
    if duplicated:
        problems.append(f"{len(duplicated)} duplicated id(s), e.g. {duplicated[:3]}")
    for row_id, messages in zip(rows["id"].to_list(), rows["messages"].to_list()):
        try:
            if normalize_messages(messages) != messages:
                problems.append(f"row {row_id}: messages are not in canonical form")
        except RejectedRow as exc:
            problems.append(f"row {row_id}: {exc}")
    return problems


def hf_folder_problems(store: DatasetStore, rows: pl.DataFrame) -> list[str]:
    """The HF dataset folder has its card and as many rows per split as the flat table."""
    import pyarrow.parquet as pq

    folder = dataset_folder(store, fetch=True)
    if not (folder / "README.md").is_file():
        return [f"{folder}/README.md (dataset card) is missing"]
    problems = []
    expected = dict(rows.group_by("split").len().iter_rows())
    for split, count in expected.items():
        shards = sorted((folder / "data").glob(f"{split}-*.parquet"))
        found = sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
        if found != count:
            problems.append(f"split {split}: {found} rows in {folder}/data, {count} in the flat table")
    return problems


def documents_without_trainable_tokens(table: pl.DataFrame) -> list[str]:
    """doc ids whose label span holds only IGNORE_INDEX."""
    empty: list[str] = []
    for labels, seq_lens, doc_ids in zip(table["labels"].to_list(), table["seq_lens"].to_list(), table["doc_ids"].to_list()):
        start = 0
        for length, doc in zip(seq_lens, doc_ids):
            if all(label == IGNORE_INDEX for label in labels[start : start + length]):
                empty.append(doc)
            start += length
    return empty


def packed_schema_problems(table: pl.DataFrame, capacity: int) -> list[str]:
    problems = [
        f"column {name}: expected {dtype}, got {table.schema.get(name)}"
        for name, dtype in PACKED_SCHEMA.items()
        if table.schema.get(name) != dtype
    ]
    if problems or not table.height:
        return problems or ["the packed table is empty"]
    lengths = table.select(pl.col(c).list.len().alias(c) for c in PACKED_COLUMNS)
    for index, row in enumerate(lengths.iter_rows(named=True)):
        if not (row["input_ids"] == row["labels"] == row["position_ids"]):
            problems.append(f"bin {index}: input_ids/labels/position_ids lengths differ {row}")
        if row["seq_lens"] != row["doc_ids"]:
            problems.append(f"bin {index}: {row['seq_lens']} seq_lens vs {row['doc_ids']} doc_ids")
        if row["input_ids"] > capacity:
            problems.append(f"bin {index}: {row['input_ids']} tokens > sequence_len {capacity}")
    for index, (positions, seq_lens) in enumerate(zip(table["position_ids"].to_list(), table["seq_lens"].to_list())):
        if sum(seq_lens) != len(positions):
            problems.append(f"bin {index}: seq_lens sum to {sum(seq_lens)}, bin has {len(positions)} tokens")
            continue
        expected = [p for length in seq_lens for p in range(length)]
        if positions != expected:
            problems.append(f"bin {index}: position_ids do not restart at 0 for each document")
    all_ids = table["doc_ids"].explode()
    if all_ids.is_duplicated().any():
        problems.append(f"{int(all_ids.is_duplicated().sum())} document id(s) packed twice")
    return problems
