"""The HF dataset folder's shards: each split's rows, in order, cut into shards."""

from __future__ import annotations

import polars as pl

from luth_pipeline.core.sft.hf_dataset import HF_COLUMNS, write_shards
from luth_pipeline_tests.core.sft.chat_tables import chat_table


def test_each_split_is_written_in_order_across_its_shards(tmp_path):
    conversations = [[{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"R{i}"}] for i in range(7)]
    rows = chat_table("sft", "s", conversations).with_columns(split=pl.Series(["a", "b", "a", "a", "b", "a", "a"]))
    files = write_shards(rows, tmp_path, max_rows_per_shard=2)
    assert files == {"a": [f"data/a-0000{i}-of-00003.parquet" for i in range(3)], "b": ["data/b-00000-of-00001.parquet"]}
    for split, names in files.items():
        written = pl.concat([pl.read_parquet(tmp_path / name) for name in names])
        assert written.equals(rows.filter(pl.col("split") == split).select(HF_COLUMNS))
