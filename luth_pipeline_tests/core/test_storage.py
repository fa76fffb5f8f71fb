"""Dataset store: atomic tables, atomic folders under concurrent writers, one writer per partition."""

import threading
import time

import polars as pl
import pytest

from luth_pipeline.core.storage import DatasetStore, atomic_directory


def test_tables_round_trip_and_a_failed_write_leaves_the_old_table(tmp_path):
    store = DatasetStore(str(tmp_path))
    store.write(pl.DataFrame({"id": ["a", "b"]}), "asset", "p")
    assert store.read("asset", "p")["id"].to_list() == ["a", "b"]
    with pytest.raises(Exception):
        store.write(pl.DataFrame({"id": [object()]}, schema={"id": pl.Object}), "asset", "p")
    assert store.read("asset", "p")["id"].to_list() == ["a", "b"]
    assert [p.name for p in (tmp_path / "asset" / "p").iterdir()] == ["data.parquet"]  # no temp file left


def test_concurrent_folder_writers_all_succeed_and_one_complete_folder_wins(tmp_path):
    target = tmp_path / "checkpoint"
    writers, barrier, errors = 8, threading.Barrier(8), []

    def write(n: int) -> None:
        try:
            with atomic_directory(target) as tmp:
                for part in range(3):
                    (tmp / f"shard-{part}.txt").write_text(f"writer {n}")
                barrier.wait()  # every writer swaps its folder in at the same moment
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    contents = {p.read_text() for p in target.iterdir()}
    assert len(list(target.iterdir())) == 3 and len(contents) == 1, "a mix of two writers' folders"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old"))]
    assert leftovers == [], "temporary or moved-aside folders left behind"


def test_a_second_writer_of_the_same_partition_waits_for_the_first(tmp_path):
    store = DatasetStore(str(tmp_path))
    order, waited = [], []

    def second():
        with store.exclusive("asset", "p", on_wait=waited.append):
            order.append("second")

    with store.exclusive("asset", "p"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join()
    assert order == ["first done", "second"]
    assert waited and "another materialization of asset[p] is writing" in waited[0]
    with store.exclusive("asset", "other", on_wait=waited.append):  # other partitions are independent
        pass
    assert len(waited) == 1


def test_tables_written_and_read_batch_by_batch(tmp_path):
    import pyarrow as pa

    store = DatasetStore(str(tmp_path))
    schema = pa.schema([("id", pa.string()), ("n", pa.int32())])
    with store.writer("asset", "p", "data", schema) as sink:
        for start in range(0, 100, 30):
            sink.write_table(pa.table({"id": [str(i) for i in range(start, min(start + 30, 100))], "n": list(range(start, min(start + 30, 100)))}, schema=schema))
    assert store.num_rows("asset", "p") == 100
    batches = list(store.iter_batches("asset", "p", columns=["n"], batch_size=40))
    assert [b.num_rows for b in batches] == [40, 40, 20] and batches[0].schema.names == ["n"]
    assert store.read("asset", "p", columns=["id"]).columns == ["id"]
    with pytest.raises(RuntimeError, match="boom"):  # a failed streamed write leaves the old table, no temp file
        with store.writer("asset", "p", "data", schema) as sink:
            sink.write_table(pa.table({"id": ["x"], "n": [1]}, schema=schema))
            raise RuntimeError("boom")
    assert store.num_rows("asset", "p") == 100
    assert [p.name for p in (tmp_path / "asset" / "p").iterdir()] == ["data.parquet"]
