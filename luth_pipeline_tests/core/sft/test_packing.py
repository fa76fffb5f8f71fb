"""Best-fit-decreasing packing: no document split, no bin overflow, every token kept."""

from __future__ import annotations

import numpy as np
import pytest

from luth_pipeline.core.sft.packing import best_fit_decreasing, next_fit, pack_tokens, packing_efficiency


@pytest.mark.parametrize("seed", range(5))
def test_bins_hold_every_document_once_and_never_overflow(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 512, size=2_000)
    bins = best_fit_decreasing(lengths, 512)
    assert sorted(doc for members in bins for doc in members) == list(range(lengths.size))
    assert max(int(lengths[members].sum()) for members in bins) <= 512
    assert len(bins) <= len(next_fit(lengths, 512))
    # At most one bin is less than half full: BFD would have merged two such bins.
    assert sum(int(lengths[m].sum()) <= 256 for m in bins) <= 1


def test_best_fit_picks_the_fullest_bin_that_fits():
    assert best_fit_decreasing([6, 5, 4, 4], 10) == [[0, 2], [1, 3]]
    assert best_fit_decreasing([7, 5, 3, 2], 10) == [[0, 2], [1, 3]]


def test_packed_table_keeps_documents_whole_and_every_token():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=500)
    ids = rng.integers(0, 30_000, size=int(lengths.sum()))
    labels = np.where(rng.random(ids.size) < 0.5, ids, -100)
    doc_ids = [f"doc{i}" for i in range(lengths.size)]
    table = pack_tokens(lengths, ids, labels, doc_ids, 1024, seed=3).to_pylist()

    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    original = {d: (ids[s : s + n].tolist(), labels[s : s + n].tolist()) for d, s, n in zip(doc_ids, starts, lengths)}
    seen = []
    for row in table:
        assert len(row["input_ids"]) == len(row["labels"]) == len(row["position_ids"]) == sum(row["seq_lens"]) <= 1024
        offset = 0
        for doc, length in zip(row["doc_ids"], row["seq_lens"]):
            assert (row["input_ids"][offset : offset + length], row["labels"][offset : offset + length]) == original[doc]
            assert row["position_ids"][offset : offset + length] == list(range(length))
            offset += length
            seen.append(doc)
    assert sorted(seen) == sorted(doc_ids)  # every document, exactly once, never split
    assert sum(len(r["input_ids"]) for r in table) == ids.size
    assert packing_efficiency(lengths, [r["doc_ids"] for r in table], 1024) > 0.97


def test_over_capacity_document_is_an_error():
    with pytest.raises(ValueError, match="document 1 has 20 tokens > bin capacity 16"):
        best_fit_decreasing([3, 20], 16)


def test_long_tailed_chat_lengths_pack_above_99_percent():
    rng = np.random.default_rng(1)
    lengths = np.clip(rng.lognormal(6.0, 1.0, size=20_000).astype(int) + 20, 1, 16_384)
    bins = best_fit_decreasing(lengths, 16_384)
    assert packing_efficiency(lengths, bins, 16_384) >= 0.99
