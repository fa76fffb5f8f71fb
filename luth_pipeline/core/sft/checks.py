"""Validations behind the SFT asset checks: each returns the list of problems found (empty = ok).

Every check streams its table: it takes the rows as Arrow record batches (`DatasetStore.iter_batches`;
a whole polars/Arrow table is accepted too and cut into batches) and holds one batch at a time,
plus what a whole-table property needs (the ids, for uniqueness). Memory does not grow with the
token count, so the checks run on the full-size Luth-SFT on one host (benchmarks/full_scale.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import polars as pl
import pyarrow as pa

from luth_pipeline.core.config import Profile
from luth_pipeline.core.sft.build import dataset_folder
from luth_pipeline.core.sft.decontamination import build_index, decontamination_sets, scan_conversations
from luth_pipeline.core.sft.mixture import SFT_SCHEMA
from luth_pipeline.core.sft.normalize import RejectedRow, normalize_messages
from luth_pipeline.core.sft.packing import IGNORE_INDEX
from luth_pipeline.core.storage import DatasetStore

PACKED_SCHEMA = {
    "input_ids": pl.List(pl.Int32),
    "labels": pl.List(pl.Int32),
    "position_ids": pl.List(pl.Int32),
    "seq_lens": pl.List(pl.Int32),
    "doc_ids": pl.List(pl.String),
}
SFT_BATCH_ROWS = 20_000  # conversations per batch (≈ 12M tokens of text at Luth-SFT's mean length)
PACKED_BATCH_ROWS = 128  # bins per batch (≤ 128 × sequence_len tokens)

Rows = pl.DataFrame | pa.Table | Iterable[pa.RecordBatch]


def record_batches(rows: Rows, batch_rows: int = SFT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Arrow record batches of a table given whole (polars or Arrow) or already as batches."""
    if isinstance(rows, pl.DataFrame):
        rows = rows.to_arrow()
    if isinstance(rows, pa.Table):
        yield from rows.to_batches(max_chunksize=batch_rows)
    else:
        yield from rows


def sft_batches(store: DatasetStore, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    return store.iter_batches("luth_sft", None, "data", columns=columns, batch_size=SFT_BATCH_ROWS)


def _lists(array: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Offsets (from 0) and flat values of a list array, slicing accounted for."""
    offsets = array.offsets.to_numpy().astype(np.int64)
    return offsets - offsets[0], array.flatten()


def decontamination_problems(profile: Profile, report: pl.DataFrame, rows: Rows) -> tuple[list[str], int]:
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
    scanned = 0
    for batch in record_batches(rows):
        conversations = [[m["content"] for m in messages] for messages in batch.column("messages").to_pylist()]
        for row_id, found in zip(batch.column("id").to_pylist(), scan_conversations(index, conversations, profile.num_proc or 1)):
            for match in found:
                problems.append(f"row {row_id} overlaps {match.eval_set} item {match.item}: '{match.ngram}'")
        scanned += batch.num_rows
    return problems, scanned


def sft_schema_problems(rows: Rows) -> list[str]:
    problems, ids, nulls, first = [], [], dict.fromkeys(("id", "messages", "source", "split"), 0), True
    for batch in record_batches(rows):
        if first:
            schema = pl.from_arrow(batch.slice(0, 0)).schema
            problems = [f"column {name}: expected {dtype}, got {schema.get(name)}" for name, dtype in SFT_SCHEMA.items() if schema.get(name) != dtype]
            if problems:
                return problems
            first = False
        for column in nulls:
            nulls[column] += batch.column(column).null_count
        ids.append(pl.from_arrow(batch.column("id")).cast(pl.String))
        for row_id, messages in zip(batch.column("id").to_pylist(), batch.column("messages").to_pylist()):
            try:
                if normalize_messages(messages) != messages:
                    problems.append(f"row {row_id}: messages are not in canonical form")
            except RejectedRow as exc:
                problems.append(f"row {row_id}: {exc}")
    problems += [f"column {column} has {count} null(s)" for column, count in nulls.items() if count]
    all_ids = pl.concat(ids) if ids else pl.Series("id", [], pl.String)
    duplicated = all_ids.filter(all_ids.is_duplicated()).unique().to_list()
    if duplicated:
        problems.append(f"{len(duplicated)} duplicated id(s), e.g. {duplicated[:3]}")
    return problems


def hf_folder_problems(store: DatasetStore, rows: Rows) -> list[str]:
    """The HF dataset folder has its card and as many rows per split as the flat table."""
    import pyarrow.parquet as pq

    folder = dataset_folder(store, fetch=True)
    if not (folder / "README.md").is_file():
        return [f"{folder}/README.md (dataset card) is missing"]
    problems = []
    expected: dict[str, int] = {}
    for batch in record_batches(rows):
        for split, count in pl.from_arrow(batch.select(["split"])).group_by("split").len().iter_rows():
            expected[split] = expected.get(split, 0) + count
    for split, count in expected.items():
        shards = sorted((folder / "data").glob(f"{split}-*.parquet"))
        found = sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
        if found != count:
            problems.append(f"split {split}: {found} rows in {folder}/data, {count} in the flat table")
    return problems


def _document_spans(lengths_offsets: np.ndarray, lengths: np.ndarray, token_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each document in its batch's flat token values, clipped to its bin (a bin
    whose `seq_lens` overrun its tokens is the schema check's to report)."""
    bin_of_doc = np.repeat(np.arange(len(lengths_offsets) - 1), np.diff(lengths_offsets))
    before = np.concatenate([[0], np.cumsum(lengths)])  # tokens of the batch's documents before each one
    start = token_offsets[bin_of_doc] + before[:-1] - before[lengths_offsets[:-1]][bin_of_doc]
    bin_end = token_offsets[bin_of_doc + 1]
    return np.minimum(start, bin_end), np.minimum(start + lengths, bin_end)


def documents_without_trainable_tokens(rows: Rows) -> list[str]:
    """doc ids whose label span holds only IGNORE_INDEX (vectorized per batch of bins)."""
    empty: list[str] = []
    for batch in record_batches(rows, PACKED_BATCH_ROWS):
        label_offsets, labels = _lists(batch.column("labels"))
        length_offsets, lengths = _lists(batch.column("seq_lens"))
        lengths = lengths.to_numpy().astype(np.int64)
        start, end = _document_spans(length_offsets, lengths, label_offsets)
        trainable = np.concatenate([[0], np.cumsum(labels.to_numpy(zero_copy_only=False) != IGNORE_INDEX)])
        untrainable = np.flatnonzero(trainable[end] - trainable[start] == 0)
        if untrainable.size:
            empty += _lists(batch.column("doc_ids"))[1].take(pa.array(untrainable)).to_pylist()
    return empty


def packed_schema_problems(rows: Rows, capacity: int) -> list[str]:
    """Column types, aligned lengths, bins ≤ capacity, `seq_lens` tiling each bin, position ids
    restarting per document, no document twice (vectorized per batch of bins)."""
    problems: list[str] = []
    doc_ids: list[pl.Series] = []
    first_bin = 0
    for batch in record_batches(rows, PACKED_BATCH_ROWS):
        if first_bin == 0 and not doc_ids:
            schema = pl.from_arrow(batch.slice(0, 0)).schema
            problems = [f"column {name}: expected {dtype}, got {schema.get(name)}" for name, dtype in PACKED_SCHEMA.items() if schema.get(name) != dtype]
            if problems:
                return problems
        count = {c: np.diff(_lists(batch.column(c))[0]) for c in PACKED_SCHEMA}
        for i in np.flatnonzero((count["input_ids"] != count["labels"]) | (count["input_ids"] != count["position_ids"])).tolist():
            lengths = {c: int(count[c][i]) for c in PACKED_SCHEMA}
            problems.append(f"bin {first_bin + i}: input_ids/labels/position_ids lengths differ {lengths}")
        for i in np.flatnonzero(count["seq_lens"] != count["doc_ids"]).tolist():
            problems.append(f"bin {first_bin + i}: {count['seq_lens'][i]} seq_lens vs {count['doc_ids'][i]} doc_ids")
        for i in np.flatnonzero(count["input_ids"] > capacity).tolist():
            problems.append(f"bin {first_bin + i}: {count['input_ids'][i]} tokens > sequence_len {capacity}")

        position_offsets, positions = _lists(batch.column("position_ids"))
        length_offsets, lengths = _lists(batch.column("seq_lens"))
        lengths = lengths.to_numpy().astype(np.int64)
        before = np.concatenate([[0], np.cumsum(lengths)])
        sums = before[length_offsets[1:]] - before[length_offsets[:-1]]
        tiled = sums == count["position_ids"]
        for i in np.flatnonzero(~tiled).tolist():
            problems.append(f"bin {first_bin + i}: seq_lens sum to {sums[i]}, bin has {count['position_ids'][i]} tokens")
        # Where seq_lens tile the bin, the expected position of each token is its offset in its document.
        start, end = _document_spans(length_offsets, lengths, position_offsets)
        spans = end - start
        expected = np.arange(int(spans.sum())) - np.repeat(np.cumsum(spans) - spans, spans)
        token_index = np.repeat(start, spans) + expected
        wrong = positions.to_numpy(zero_copy_only=False)[token_index] != expected
        bad_bins = np.unique(np.searchsorted(position_offsets, token_index[wrong], side="right") - 1)
        for i in bad_bins[tiled[bad_bins]].tolist():
            problems.append(f"bin {first_bin + i}: position_ids do not restart at 0 for each document")
        doc_ids.append(pl.from_arrow(_lists(batch.column("doc_ids"))[1]).cast(pl.String))
        first_bin += batch.num_rows
    if first_bin == 0:
        return ["the packed table is empty"]
    all_ids = pl.concat(doc_ids)
    if all_ids.is_duplicated().any():
        problems.append(f"{int(all_ids.is_duplicated().sum())} document id(s) packed twice")
    return problems
