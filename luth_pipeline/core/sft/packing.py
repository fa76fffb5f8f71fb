"""Sample packing: tokenized documents → fixed-capacity bins, document boundaries kept.

Packed table (`luth_sft_packed`, one partition per base model, DatasetStore table `data`) —
the contract the training stage consumes:

| column         | type           | meaning                                                        |
|----------------|----------------|----------------------------------------------------------------|
| `input_ids`    | list<int32>    | the bin's documents concatenated, no padding; length ≤ `sequence_len` |
| `labels`       | list<int32>    | same length; the token id where the loss applies (assistant turns, their end-of-turn token), `-100` elsewhere. NOT shifted: the trainer shifts as usual for causal LM |
| `position_ids` | list<int32>    | same length; restarts at 0 at every document start             |
| `seq_lens`     | list<int32>    | length of each document in the bin, in order; sums to `len(input_ids)` |
| `doc_ids`      | list<str>      | `luth_sft` row id of each document, in the same order          |

One row per bin. Rows are not padded: a collator pads the batch (or concatenates bins into a
varlen batch with `cu_seqlens = cumsum([0] + seq_lens)`). Attention must not cross documents:
use `seq_lens` (flash-attn varlen / flex-attention block mask) or `position_ids` (restarts mark
boundaries, as transformers' `DataCollatorWithFlattening` does). A document is never split
across bins. Bin order is deterministic (seeded shuffle of the packed bins).

Packing is best-fit-decreasing: documents sorted by length (longest first), each placed into the
fullest bin that still has room for it, a new bin opened when none does. BFD is within 11/9 of the
optimum bin count in the worst case and, on the long-tailed length distributions of chat data,
fills > 99 % of the slots (benchmarks/packing.py).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
import numpy as np

IGNORE_INDEX = -100

PACKED_COLUMNS = ("input_ids", "labels", "position_ids", "seq_lens", "doc_ids")


class _CapacityIndex:
    """Bins grouped by remaining capacity, with "smallest capacity ≥ L" in O(log capacity).

    A segment tree over capacity values 0..C marks which values have at least one open bin;
    the query walks down to the leftmost marked value ≥ L. Bins with the same remaining
    capacity sit on a stack (any of them is an equally good best fit).
    """

    def __init__(self, capacity: int):
        self.size = 1
        while self.size < capacity + 1:
            self.size *= 2
        self.tree = [0] * (2 * self.size)  # number of open bins under each node
        self.stacks: dict[int, list[int]] = {}

    def _update(self, value: int, delta: int) -> None:
        node = value + self.size
        while node:
            self.tree[node] += delta
            node //= 2

    def push(self, remaining: int, bin_index: int) -> None:
        self.stacks.setdefault(remaining, []).append(bin_index)
        self._update(remaining, 1)

    def pop_best_fit(self, length: int) -> tuple[int, int] | None:
        """Remove and return (remaining, bin) of the bin with the least room that fits `length`."""
        value = self._first_at_least(length)
        if value is None:
            return None
        stack = self.stacks[value]
        bin_index = stack.pop()
        if not stack:
            del self.stacks[value]
        self._update(value, -1)
        return value, bin_index

    def _first_at_least(self, low: int) -> int | None:
        if low >= self.size:
            return None
        tree, size = self.tree, self.size
        # Walk up from the leaf `low`, looking right for the first subtree that holds a bin…
        node = low + size
        if tree[node]:
            return low
        while node > 1:
            if node % 2 == 0 and tree[node + 1]:
                node += 1
                break
            node //= 2
        else:
            return None
        # …then down to its leftmost marked leaf.
        while node < size:
            node = 2 * node if tree[2 * node] else 2 * node + 1
        return node - size


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Group document indices into bins of total length ≤ `capacity` (best-fit-decreasing).

    Every index appears exactly once; documents longer than `capacity` are an error (truncate or
    drop them first). Ties are broken by index, so the result is deterministic.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and int(lengths.max()) > capacity:
        worst = int(np.argmax(lengths))
        raise ValueError(
            f"document {worst} has {int(lengths[worst])} tokens > bin capacity {capacity}: "
            "truncate or drop over-length documents before packing"
        )
    if lengths.size and int(lengths.min()) <= 0:
        raise ValueError(f"document {int(np.argmin(lengths))} is empty: nothing to pack")
    order = np.lexsort((np.arange(lengths.size), -lengths))  # longest first, stable
    bins: list[list[int]] = []
    index = _CapacityIndex(capacity)
    for doc in order.tolist():
        length = int(lengths[doc])
        found = index.pop_best_fit(length)
        if found is None:
            bins.append([doc])
            remaining = capacity - length
            bin_index = len(bins) - 1
        else:
            remaining, bin_index = found
            bins[bin_index].append(doc)
            remaining -= length
        if remaining > 0:
            index.push(remaining, bin_index)
    return bins


def next_fit(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Greedy concatenation in dataset order: start a new bin when the next document does not fit.

    The baseline most trainers use without a packing algorithm (kept for the benchmark)."""
    bins: list[list[int]] = []
    used = capacity + 1
    for doc, length in enumerate(lengths):
        if length > capacity:
            raise ValueError(f"document {doc} has {length} tokens > bin capacity {capacity}")
        if used + length > capacity:
            bins.append([])
            used = 0
        bins[-1].append(doc)
        used += int(length)
    return bins


def packing_efficiency(lengths: Sequence[int], bins: Sequence[Sequence[int]], capacity: int) -> float:
    """Real tokens / token slots, a slot being one position of a `capacity`-long bin."""
    if not bins:
        return 1.0
    return float(np.sum(np.asarray(lengths, dtype=np.int64))) / (len(bins) * capacity)


def pad_to_longest_efficiency(lengths: Sequence[int], batch_size: int, seed: int = 0) -> float:
    """Efficiency of no packing: random batches of `batch_size`, each padded to its longest."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(lengths.size)
    real, slots = 0, 0
    for start in range(0, lengths.size, batch_size):
        batch = lengths[order[start : start + batch_size]]
        real += int(batch.sum())
        slots += int(batch.max()) * len(batch)
    return real / slots if slots else 1.0


def pack_bins(lengths: Sequence[int], capacity: int, seed: int) -> list[list[int]]:
    """Best-fit-decreasing bins (document indices), in a seeded order: BFD emits the longest
    documents first, the shuffle spreads them over the epoch."""
    bins = best_fit_decreasing(lengths, capacity)
    random.Random(seed).shuffle(bins)
    return bins


def bins_table(doc_lengths: np.ndarray, input_ids: np.ndarray, labels: np.ndarray, doc_ids: Sequence[str], docs_per_bin: np.ndarray):
    """The packed-table rows (a `pyarrow.Table`, module docstring) of consecutive bins, from their
    documents already in bin order: `doc_lengths[i]` tokens of `input_ids`/`labels` per document,
    `docs_per_bin[j]` documents per bin. Vectorized: no Python loop over tokens."""
    import pyarrow as pa

    doc_lengths = np.asarray(doc_lengths, dtype=np.int64)
    if int(doc_lengths.sum()) != len(input_ids) or len(input_ids) != len(labels) or len(doc_ids) != doc_lengths.size or int(np.sum(docs_per_bin)) != doc_lengths.size:
        raise ValueError(
            f"inconsistent inputs: {doc_lengths.size} documents, sum(lengths)={int(doc_lengths.sum())}, {len(input_ids)} ids, "
            f"{len(labels)} labels, {len(doc_ids)} doc ids, {int(np.sum(docs_per_bin))} documents in bins"
        )
    starts = np.concatenate([[0], np.cumsum(doc_lengths)[:-1]]) if doc_lengths.size else np.zeros(0, np.int64)
    within = np.arange(len(input_ids), dtype=np.int64) - np.repeat(starts, doc_lengths)  # position in its document
    doc_offsets = np.concatenate([[0], np.cumsum(docs_per_bin)]).astype(np.int64)
    token_offsets = pa.array(np.concatenate([[0], np.cumsum(doc_lengths)])[doc_offsets].astype(np.int32))
    doc_offsets = pa.array(doc_offsets.astype(np.int32))

    def token_list(values: np.ndarray) -> pa.Array:
        return pa.ListArray.from_arrays(token_offsets, pa.array(np.asarray(values).astype(np.int32, copy=False)))

    return pa.table(
        {
            "input_ids": token_list(input_ids),
            "labels": token_list(labels),
            "position_ids": token_list(within),
            "seq_lens": pa.ListArray.from_arrays(doc_offsets, pa.array(doc_lengths.astype(np.int32))),
            "doc_ids": pa.ListArray.from_arrays(doc_offsets, pa.array(list(doc_ids), type=pa.string())),
        }
    )


def pack_tokens(
    lengths: Sequence[int],
    input_ids: np.ndarray,
    labels: np.ndarray,
    doc_ids: Sequence[str],
    capacity: int,
    seed: int,
):
    """Pack documents given as flat token arrays (document i = the next `lengths[i]` tokens), all
    in memory; `luth_sft_packed` itself packs bin by bin from a memory-mapped table (build.py)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if int(lengths.sum()) != len(input_ids) or len(input_ids) != len(labels) or len(doc_ids) != lengths.size:
        raise ValueError(f"inconsistent inputs: {lengths.size} documents, sum(lengths)={int(lengths.sum())}, {len(input_ids)} ids, {len(labels)} labels, {len(doc_ids)} doc ids")
    bins = pack_bins(lengths, capacity, seed)
    order = np.fromiter((doc for members in bins for doc in members), dtype=np.int64, count=lengths.size)
    docs_per_bin = np.fromiter((len(members) for members in bins), dtype=np.int64, count=len(bins))
    doc_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if lengths.size else np.zeros(0, np.int64)
    out_lengths = lengths[order]
    out_starts = np.concatenate([[0], np.cumsum(out_lengths)[:-1]]) if lengths.size else np.zeros(0, np.int64)
    within = np.arange(int(out_lengths.sum()), dtype=np.int64) - np.repeat(out_starts, out_lengths)
    source_index = np.repeat(doc_starts[order], out_lengths) + within
    doc_ids = np.asarray(doc_ids, dtype=object)
    return bins_table(out_lengths, np.asarray(input_ids)[source_index], np.asarray(labels)[source_index], doc_ids[order].tolist(), docs_per_bin)
