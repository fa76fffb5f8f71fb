"""Fixtures for the e2e tests: loopback servers, production-shaped instances, the graph's subsets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from luth_pipeline_tests.e2e.servers import REPO, PostgresServer, S3Server

PROD_INSTANCE = REPO / "configs" / "dagster" / "dagster.prod.yaml"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def postgres():
    server = PostgresServer(password="pg-e2e-Xq7w").start()
    yield server
    server.stop()


@pytest.fixture
def s3(tmp_path):
    server = S3Server(tmp_path).start()
    yield server
    server.stop()


def write_profile(path: Path, data_root: str, **overrides) -> Path:
    """A profile extending `local` that writes into `data_root` (a tmp folder or s3:// URI)."""
    path.write_text(yaml.safe_dump({"extends": "local", "data_root": data_root, **overrides}))
    return path


def write_prod_instance(dagster_home: Path) -> Path:
    """dagster.prod.yaml verbatim (Postgres storage, S3 compute logs, queued coordinator, pools,
    monitoring, retries) except the run launcher: runs start as local processes instead of
    Kubernetes Jobs, which cannot resume a run so resume attempts are off."""
    config = yaml.safe_load(PROD_INSTANCE.read_text())
    config.pop("run_launcher")
    config["run_monitoring"]["max_resume_run_attempts"] = 0
    config["run_monitoring"]["poll_interval_seconds"] = 5
    config["compute_logs"]["config"]["upload_interval"] = 2
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dagster_home


def write_local_instance(dagster_home: Path) -> Path:
    """The repo's own dagster.yaml (SQLite under DAGSTER_HOME), as `make ui` uses it."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    return dagster_home


def graph_of_current_defs():
    from luth_pipeline.definitions import defs

    return defs().resolve_asset_graph()


def source_partitioned_assets(graph) -> list[str]:
    """The assets partitioned by source (raw dumps → French samples …), in topological order.

    They are the e2e subset that runs on fixture data in seconds; the list grows as stages land.
    """
    from luth_pipeline.core.config import load_profile
    from luth_pipeline.defs.partitions import Partitions

    source_partitions = Partitions.of(load_profile()).sources
    keys = [k for level in graph.toposorted_asset_keys_by_level for k in sorted(level)]
    return [k.to_user_string() for k in keys if graph.get(k).is_materializable and graph.get(k).partitions_def == source_partitions]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
