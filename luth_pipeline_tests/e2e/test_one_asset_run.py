"""A one-asset run from the command line, as a user launches it: the local profile's executor runs
the asset and its checks in the run's own process (one start-up), another profile can choose
per-step processes; the profile only names the executor, no code reads its name."""

from __future__ import annotations

import subprocess

import dagster as dg

from luth_pipeline_tests.e2e.conftest import write_local_instance, write_profile
from luth_pipeline_tests.e2e.servers import REPO, VENV_BIN, dagster_env


def _materialize(env: dict[str, str], asset: str, partition: str) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "luth_pipeline.definitions", "--select", asset,
         "--partition", partition], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _step_pids(home, asset: str) -> tuple[set[str], set[int]]:
    """(steps started, processes they ran in) in the latest run of `asset`."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records[0].run_id
        events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
    starts = [e for e in events if e.event_type == dg.DagsterEventType.STEP_START]
    return {e.step_key for e in starts}, {e.pid for e in starts}


def _run_french_samples(tmp_path, **profile_values) -> tuple[set[str], set[int]]:
    home = write_local_instance(tmp_path / "dagster_home")
    env = dagster_env(home, write_profile(tmp_path / "p.yaml", str(tmp_path / "data"), **profile_values))
    _materialize(env, "raw_multilingual_dumps", "aya_dataset")
    _materialize(env, "french_samples", "aya_dataset")
    return _step_pids(home, "french_samples")


def test_local_profile_runs_an_asset_and_its_checks_in_one_process(tmp_path):
    steps, pids = _run_french_samples(tmp_path)
    assert "french_samples" in steps and len(steps) > 1, steps  # the asset and its checks ran
    assert len(pids) == 1, pids


def test_a_profile_can_choose_a_process_per_step(tmp_path):
    steps, pids = _run_french_samples(tmp_path, executor="multiprocess")
    assert len(pids) == len(steps) > 1, (steps, pids)
