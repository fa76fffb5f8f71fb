"""Production storage for real: the instance in PostgreSQL, datasets and compute logs in S3.

The production instance file (configs/dagster/dagster.prod.yaml, launcher swapped for local
processes) runs against a PostgreSQL server and an S3-compatible server, both on loopback and
reached through the real clients (psycopg2, boto3, pyarrow's S3 filesystem). The deployment has
the production shape: a standalone code server, a webserver and a daemon; runs are submitted
through the webserver's GraphQL API (as the UI does), queued in Postgres and launched by the
daemon. Mid-run, the webserver and the daemon are killed and restarted; a run submitted while
the daemon is down must wait in the queue. Nothing may be lost: both runs succeed, every event
and materialization is in Postgres, every table and compute log is in S3.
"""

from __future__ import annotations

import signal
import time

import dagster as dg
import pytest
import yaml

from luth_pipeline.core.storage import DatasetStore
from luth_pipeline_tests.e2e.conftest import graph_of_current_defs, source_partitioned_assets, write_prod_instance, write_profile
from luth_pipeline_tests.e2e.servers import (
    VENV_BIN, Process, dagster_env, free_port, launch_assets, location_loaded, port_open, wait_for,
)

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
LOCATION = "luth_pipeline"


class Deployment:
    """Code server + webserver + daemon sharing one production-shaped instance."""

    def __init__(self, tmp_path, env):
        self.tmp, self.env = tmp_path, env
        self.grpc_port, self.web_port = free_port(), free_port()
        self.workspace = tmp_path / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump({"load_from": [
            {"grpc_server": {"host": "127.0.0.1", "port": self.grpc_port, "location_name": LOCATION}}]}))
        self.code_server = self.webserver = self.daemon = None
        self.starts = 0

    def start_code_server(self):
        self.code_server = Process([str(VENV_BIN / "dagster"), "api", "grpc", "-m", "luth_pipeline.definitions",
                                    "-h", "127.0.0.1", "-p", str(self.grpc_port)], self.tmp / "code_server.log", self.env)
        wait_for(lambda: port_open(self.grpc_port), 240, "the code server to listen", interval=0.5, process=self.code_server)

    def start_webserver(self):
        self.starts += 1
        self.webserver = Process([str(VENV_BIN / "dagster-webserver"), "-w", str(self.workspace), "-h", "127.0.0.1",
                                  "-p", str(self.web_port)], self.tmp / f"webserver.{self.starts}.log", self.env)
        wait_for(lambda: location_loaded(self.web_port), 240, "the webserver to load the code location", interval=1,
                 process=self.webserver)

    def start_daemon(self):
        self.daemon = Process([str(VENV_BIN / "dagster-daemon"), "run", "-w", str(self.workspace)],
                              self.tmp / f"daemon.{self.starts}.log", self.env)

    def stop(self):
        for process in (self.daemon, self.webserver, self.code_server):
            if process is not None:
                process.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_postgres_s3_materialization_survives_webserver_and_daemon_restart(tmp_path, postgres, s3, monkeypatch):
    graph = graph_of_current_defs()
    subset = source_partitioned_assets(graph)
    assert subset, "no source-partitioned asset in the graph: the e2e subset (raw → french) is empty"
    partitions = graph.get(dg.AssetKey(subset[0])).partitions_def.get_partition_keys()[:2]

    data_root = f"s3://{s3.bucket}/luth"
    profile = write_profile(tmp_path / "e2e.yaml", data_root)
    home = write_prod_instance(tmp_path / "dagster_home")
    secrets_env = {**postgres.env(), **s3.env()}
    for key, value in secrets_env.items():
        monkeypatch.setenv(key, value)
    env = dagster_env(home, profile, secrets_env)
    deployment = Deployment(tmp_path, env)
    try:
        deployment.start_code_server()
        deployment.start_webserver()
        deployment.start_daemon()
        instance = dg.DagsterInstance.from_config(str(home))
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"

        first = launch_assets(deployment.web_port, LOCATION, subset, partitions[0], {"luth/test": "restart"})
        # Wait for STARTED (the run worker is executing), not STARTING: a daemon killed between
        # marking a run STARTING and handing it to the launcher leaves an orphan that only run
        # monitoring's start timeout (15 min in prod) resolves; that is not the case under test.
        wait_for(lambda: instance.get_run_by_id(first).status in {dg.DagsterRunStatus.STARTED, *FINISHED}, 180,
                 "the first run to start executing", interval=0.1, log=deployment.daemon.log)
        # Kill hard (no graceful shutdown), as a node loss or OOM kill would.
        deployment.daemon.stop(signal.SIGKILL)
        deployment.webserver.stop(signal.SIGKILL)
        status_at_kill = instance.get_run_by_id(first).status
        assert status_at_kill not in FINISHED, f"run {first} finished before the restart ({status_at_kill}); nothing was tested"

        deployment.start_webserver()
        second = launch_assets(deployment.web_port, LOCATION, subset, partitions[-1])
        time.sleep(3)
        assert instance.get_run_by_id(second).status == dg.DagsterRunStatus.QUEUED, "a run was launched with no daemon running"
        deployment.start_daemon()

        for run_id in (first, second):
            wait_for(lambda run_id=run_id: instance.get_run_by_id(run_id).status in FINISHED, 600,
                     f"run {run_id} to finish", interval=1, log=deployment.daemon.log)
        failures = {r: instance.get_run_by_id(r).status for r in (first, second) if instance.get_run_by_id(r).status != dg.DagsterRunStatus.SUCCESS}
        assert not failures, f"runs did not succeed: {failures}; see {tmp_path}/*.log and the run's events in the UI"

        store = DatasetStore(data_root)
        for run_id, partition in ((first, partitions[0]), (second, partitions[-1])):
            events = instance.all_logs(run_id)
            types = [e.dagster_event.event_type for e in events if e.dagster_event]
            assert types.count(dg.DagsterEventType.STEP_SUCCESS) >= 1 and dg.DagsterEventType.RUN_SUCCESS in types
            assert dg.DagsterEventType.STEP_FAILURE not in types
            assert types.count(dg.DagsterEventType.ASSET_MATERIALIZATION) >= len(subset), types
            for asset in subset:
                record = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
                ).records[0]
                assert record.run_id == run_id
                metadata = record.asset_materialization.metadata
                path = str(metadata["path"].value)
                assert path.startswith(f"s3://{s3.bucket}/"), f"{asset} wrote outside S3: {path}"
                table = store.read(asset, partition)
                assert table.height == metadata["dagster/row_count"].value, f"{asset}[{partition}] row count differs from its metadata"
            compute_logs = s3.keys(f"dagster/compute-logs/storage/{run_id}/")
            assert compute_logs, f"no compute logs of run {run_id} in S3 (have {s3.keys('dagster/')[:10]})"
    finally:
        deployment.stop()
