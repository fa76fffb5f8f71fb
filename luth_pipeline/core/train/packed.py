"""Packed batches with document masking, from `luth_sft_packed` rows.

A row of `luth_sft_packed` is one bin: several chat documents concatenated, with `labels`
(-100 outside assistant turns) aligned to `input_ids` and `position_ids` restarting at 0 for
every document. Two things keep documents apart while training on such a bin:

- attention: no mask is passed, only `position_ids`. transformers then finds the document
  boundaries from the position restarts (`masking_utils.find_packed_sequence_indices`) and
  builds a block-diagonal causal mask for SDPA/eager/flex; flash-attn's varlen kernel gets
  `cu_seqlens` from the same restarts (for it the micro-batch is flattened into one row);
- loss: `shift_labels` is built here, per document, so the last token of one document never
  predicts the first token of the next one.

Padding (to the longest row of a micro-batch) is a pseudo-document of its own: positions
restart at 0 and every label is -100, so it neither attends to nor is attended by real tokens.

Needs only torch (the GPU benchmark imports it without the orchestrator's dependencies).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

IGNORE_INDEX = -100
PACKED_COLUMNS = ("input_ids", "labels", "position_ids")


def validate_packed_row(row: Mapping, index: int) -> None:
    """A clear error for a malformed bin instead of a shape error deep inside the model."""
    missing = [c for c in PACKED_COLUMNS if row.get(c) is None]
    if missing:
        raise ValueError(f"luth_sft_packed row {index}: missing column(s) {missing}; rebuild luth_sft_packed")
    lengths = {c: len(row[c]) for c in PACKED_COLUMNS}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"luth_sft_packed row {index}: columns differ in length {lengths}; rebuild luth_sft_packed")
    if lengths["input_ids"] == 0:
        raise ValueError(f"luth_sft_packed row {index}: empty bin")
    if row["position_ids"][0] != 0:
        raise ValueError(f"luth_sft_packed row {index}: position_ids must start at 0 (got {row['position_ids'][0]})")


def document_boundaries(position_ids: torch.Tensor) -> torch.Tensor:
    """True where a new document starts (position restarts, i.e. it does not continue +1)."""
    starts = torch.ones_like(position_ids, dtype=torch.bool)
    starts[..., 1:] = position_ids[..., 1:] != position_ids[..., :-1] + 1
    return starts


def shift_labels_within_documents(labels: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
    """`labels[t+1]` as the target of token t, or -100 when t+1 starts another document."""
    shifted = torch.full_like(labels, IGNORE_INDEX)
    shifted[..., :-1] = labels[..., 1:]
    next_starts = document_boundaries(position_ids)[..., 1:]
    shifted[..., :-1] = shifted[..., :-1].masked_fill(next_starts, IGNORE_INDEX)
    return shifted


@dataclass
class PackedCollator:
    """Micro-batch of packed bins: pads (as a separate pseudo-document) or flattens into one row.

    `flatten=True` is for flash-attn varlen, whose packed path reads a single row of
    concatenated documents; it also avoids any padding. `pad_to_length` gives every micro-batch
    one width (flex_attention: one compiled kernel and mask shape instead of one per width).
    """

    pad_token_id: int
    flatten: bool = False
    pad_to_multiple_of: int = 1
    pad_to_length: int | None = None

    def __call__(self, rows: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        if self.flatten:
            rows = [{c: [v for r in rows for v in r[c]] for c in PACKED_COLUMNS}]
        longest = max(len(r["input_ids"]) for r in rows)
        width = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        if self.pad_to_length is not None:
            if longest > self.pad_to_length:
                raise ValueError(f"a packed bin of {longest} tokens is longer than the fixed row width {self.pad_to_length}")
            width = self.pad_to_length
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        # Padding positions count 0, 1, 2, ... : a document of its own, invisible to real tokens.
        position_ids = torch.arange(width, dtype=torch.long).repeat(len(rows), 1)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            input_ids[i, :n] = torch.as_tensor(row["input_ids"], dtype=torch.long)
            labels[i, :n] = torch.as_tensor(row["labels"], dtype=torch.long)
            position_ids[i, :n] = torch.as_tensor(row["position_ids"], dtype=torch.long)
            position_ids[i, n:] -= n
        return {
            "input_ids": input_ids,
            "labels": labels,
            "position_ids": position_ids,
            "shift_labels": shift_labels_within_documents(labels, position_ids),
        }


class PackedDataset(torch.utils.data.Dataset):
    """The bins of `luth_sft_packed` as a map-style dataset (a list of dicts of int lists)."""

    def __init__(self, rows: Iterable[Mapping]):
        self.rows = [{c: list(r[c]) for c in PACKED_COLUMNS} for r in rows]
        if not self.rows:
            raise ValueError("luth_sft_packed is empty: nothing to train on (check the sft stage's filters)")
        for i, row in enumerate(self.rows):
            validate_packed_row(row, i)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]

    @property
    def num_tokens(self) -> int:
        return sum(len(r["input_ids"]) for r in self.rows)

    @property
    def num_trained_tokens(self) -> int:
        return sum(sum(1 for v in r["labels"] if v != IGNORE_INDEX) for r in self.rows)

    def document_lengths(self) -> list[int]:
        lengths = []
        for row in self.rows:
            pos = row["position_ids"]
            starts = [i for i, p in enumerate(pos) if i == 0 or p != pos[i - 1] + 1]
            lengths += [b - a for a, b in zip(starts, starts[1:] + [len(pos)])]
        return lengths

