"""The production configs are valid by Dagster's own schemas, secret-free, and route GPU runs to GPU nodes."""

from __future__ import annotations

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config_schema

from luth_pipeline_tests.e2e.conftest import PROD_INSTANCE
from luth_pipeline_tests.e2e.servers import REPO

ECS_LAUNCHER = REPO / "configs" / "dagster" / "dagster.ecs.yaml"
PROD_ENV = {
    "DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "from-a-secret", "DAGSTER_PG_DB": "dagster", "LUTH_S3_BUCKET": "luth-prod",
    "DAGSTER_K8S_NAMESPACE": "luth", "LUTH_IMAGE": "registry/luth:1", "LUTH_ECS_TASK_DEFINITION": "luth-run",
}


@pytest.fixture
def prod_env(monkeypatch):
    for key, value in PROD_ENV.items():
        monkeypatch.setenv(key, value)


def _validate(config_type, config: dict) -> None:
    result = process_config(config_type, config)
    assert result.success, [e.message for e in result.errors]


def test_prod_instance_matches_dagster_schema(prod_env, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    config = yaml.safe_load(PROD_INSTANCE.read_text())
    _validate(dagster_instance_config_schema(), config)
    # Dagster's own loader also cross-checks sections (e.g. run limits vs the coordinator).
    (tmp_path / "dagster.yaml").write_text(PROD_INSTANCE.read_text())
    dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}


@pytest.mark.parametrize("launcher_file", [PROD_INSTANCE, ECS_LAUNCHER], ids=["k8s", "ecs"])
def test_run_launchers_match_their_class_schema(prod_env, launcher_file):
    import importlib

    block = yaml.safe_load(launcher_file.read_text())["run_launcher"]
    cls = getattr(importlib.import_module(block["module"]), block["class"])
    _validate(cls.config_type(), block["config"])


def test_prod_storage_classes_load_from_the_file(prod_env):
    """Each configured class exists and accepts its section (as the instance would load it)."""
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresRunStorage

    config = yaml.safe_load(PROD_INSTANCE.read_text())
    _validate(S3ComputeLogManager.config_type(), config["compute_logs"]["config"])
    _validate(PostgresRunStorage.config_type(), config["storage"]["postgres"])


def test_configs_hold_no_secret_values():
    for path in (PROD_INSTANCE, ECS_LAUNCHER, REPO / "configs" / "profiles" / "prod.yaml"):
        text = path.read_text()
        for secret_key in ("password", "api_key", "token", "secret_access_key"):
            for line in text.splitlines():
                if line.strip().startswith(f"{secret_key}:"):
                    assert "{env:" in line or "${" in line, f"{path}: `{line.strip()}` must come from the environment"


# GPU sizing of every GPU step from the prod profile: luth_pipeline_tests/defs/test_scale_out.py.
