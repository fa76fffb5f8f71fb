"""Two materializations of the same asset partition at the same time, as two users clicking
"Materialize" would start them: both succeed, one after the other, and the output is whole."""

from __future__ import annotations

import subprocess
import threading
import time

import polars as pl
import pytest
from filelock import FileLock

from luth_pipeline_tests.e2e.conftest import write_local_instance, write_profile
from luth_pipeline_tests.e2e.servers import REPO, VENV_BIN, dagster_env

WAITING = "is writing; waiting for it to finish"


def _materialize_cmd(asset: str, partition: str) -> list[str]:
    return [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "luth_pipeline.definitions",
            "--select", asset, "--partition", partition]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_concurrent_materializations_of_one_partition_take_turns(tmp_path):
    home = write_local_instance(tmp_path / "dagster_home")
    data = tmp_path / "data"
    env = dagster_env(home, write_profile(tmp_path / "p.yaml", str(data)))
    raw = subprocess.run(_materialize_cmd("raw_multilingual_dumps", "smoltalk2"), cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert raw.returncode == 0, raw.stderr[-3000:]

    # Hold the partition's lock so that both runs must find it taken; release once both wait.
    lock = FileLock(data / ".locks" / "french_samples" / "smoltalk2.lock")
    lock.acquire()
    logs: list[list[str]] = [[], []]
    procs = [subprocess.Popen(_materialize_cmd("french_samples", "smoltalk2"), cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    readers = [threading.Thread(target=lambda p=p, out=out: out.extend(p.stderr), daemon=True) for p, out in zip(procs, logs)]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 240
        while not all(any(WAITING in line for line in out) for out in logs):
            assert all(p.poll() is None for p in procs), "a run ended while the partition was locked:\n" + "".join(logs[0] + logs[1])[-3000:]
            assert time.monotonic() < deadline, "the runs never reached the partition lock:\n" + "".join(logs[0] + logs[1])[-3000:]
            time.sleep(0.2)
    finally:
        lock.release()
    for proc, reader in zip(procs, readers):
        assert proc.wait(timeout=300) == 0, "".join(logs[0] + logs[1])[-3000:]
        reader.join()

    raw_rows = pl.read_parquet(data / "raw_multilingual_dumps" / "smoltalk2" / "data.parquet")
    kept = pl.read_parquet(data / "french_samples" / "smoltalk2" / "data.parquet")
    rejects = pl.read_parquet(data / "french_samples" / "smoltalk2" / "rejects.parquet")
    assert kept.height > 0 and kept.height + rejects.height == raw_rows.height  # data and rejects of one run
    assert kept["id"].n_unique() == kept.height and not set(kept["parent_id"]) & set(rejects["parent_id"])
    leftovers = [p.name for p in (data / "french_samples" / "smoltalk2").iterdir() if p.name.startswith(".")]
    assert leftovers == [], "temporary files left behind"
