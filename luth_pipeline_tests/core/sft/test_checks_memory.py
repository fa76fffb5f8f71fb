"""The SFT checks stream their tables: the memory they allocate does not grow with the table.

Measured with tracemalloc (Python objects and numpy arrays; numpy reports its buffers to it) on
the same check over a table and over one four times larger, read in batches of the same size.
The measure is first shown to see a whole-table read (`to_list`, what the checks did before) grow
with the table, so a check that went back to materializing the table would fail here. Wall-clock
time is not asserted (benchmarks/full_scale.py measures it).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import polars as pl
import pytest

from luth_pipeline.core.sft.checks import documents_without_trainable_tokens, packed_schema_problems, sft_schema_problems
from luth_pipeline.core.sft.packing import IGNORE_INDEX, pack_tokens
from luth_pipeline.core.storage import DatasetStore
from luth_pipeline_tests.core.sft.chat_tables import chat_table

CAPACITY = 2048
BATCH = 16  # rows per batch: both tables span several batches


def packed(store: DatasetStore, docs: int, partition: str) -> list[str]:
    """A packed table of `docs` documents (seeded lengths); every 50th document has no trainable token."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 600, docs)
    labels = rng.integers(0, 2000, int(lengths.sum()))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    untrainable = list(range(0, docs, 50))
    for doc in untrainable:
        labels[starts[doc] : starts[doc] + lengths[doc]] = IGNORE_INDEX
    ids = [f"d{i}" for i in range(docs)]
    store.write(pl.from_arrow(pack_tokens(lengths, rng.integers(0, 2000, int(lengths.sum())), labels, ids, CAPACITY, 0)), "luth_sft_packed", partition)
    return [ids[d] for d in untrainable]


def peak_bytes(function) -> tuple[int, object]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        value = function()
        return tracemalloc.get_traced_memory()[1] - baseline, value
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = DatasetStore(str(tmp_path_factory.mktemp("data")))
    store.expected = {"small": packed(store, 400, "small"), "large": packed(store, 1600, "large")}
    return store


def test_the_measure_sees_a_whole_table_read_grow(store):
    small, _ = peak_bytes(lambda: store.read("luth_sft_packed", "small")["labels"].to_list())
    large, _ = peak_bytes(lambda: store.read("luth_sft_packed", "large")["labels"].to_list())
    assert large > 3 * small


@pytest.mark.parametrize("check", ["trainable", "schema"])
def test_packed_checks_hold_one_batch_whatever_the_table_size(store, check):
    def run(partition):
        batches = store.iter_batches("luth_sft_packed", partition, "data", batch_size=BATCH)
        return documents_without_trainable_tokens(batches) if check == "trainable" else packed_schema_problems(batches, CAPACITY)

    small, small_result = peak_bytes(lambda: run("small"))
    large, large_result = peak_bytes(lambda: run("large"))
    if check == "trainable":  # the streamed check still finds every untrainable document, across batches
        assert sorted(small_result) == sorted(store.expected["small"]) and sorted(large_result) == sorted(store.expected["large"])
    else:
        assert small_result == [] and large_result == []
    # Four times the bins, same batch size: the peak stays that of a batch (plus the doc ids, which
    # the duplicate check keeps in Arrow, outside this measure).
    assert large < 1.5 * small, f"{check}: {small} B for 400 documents, {large} B for 1600"


def test_sft_schema_check_holds_one_batch_whatever_the_table_size(tmp_path):
    store = DatasetStore(str(tmp_path))
    for name, rows in (("small", 200), ("large", 800)):
        conversations = [[{"role": "user", "content": f"Question {i}" + " mot" * 40}, {"role": "assistant", "content": "Réponse" + " bien" * 80}] for i in range(rows)]
        store.write(chat_table("sft", "s", conversations).with_columns(pl.lit("luth_s").alias("split")), "luth_sft", name)
    small, small_problems = peak_bytes(lambda: sft_schema_problems(store.iter_batches("luth_sft", "small", batch_size=50)))
    large, large_problems = peak_bytes(lambda: sft_schema_problems(store.iter_batches("luth_sft", "large", batch_size=50)))
    assert small_problems == [] and large_problems == []
    assert large < 1.5 * small, f"{small} B for 200 conversations, {large} B for 800"
