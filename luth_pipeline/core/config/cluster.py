"""Settings of a cluster deployment: which container image runs which kind of step, and how big
a GPU pod is per GPU. Read by `luth_pipeline/defs/scale_out.py`; inert on a laptop."""

from __future__ import annotations

import os

from pydantic import Field

from luth_pipeline.core.config.base import ConfigError, StrictModel


class ImageSet(StrictModel):
    """One value per image of docker/: the orchestrator/CPU image (`.venv`), the training image
    (Axolotl + DeepSpeed, `.venv-train`) and the serving/eval image (vLLM + LightEval, `.venv-serve`)."""

    cpu: str | None = None
    train: str | None = None
    serve: str | None = None

    def resolve(self, role: str, key: str) -> str | None:
        """The value for `role` with `${VAR}` expanded; an unset variable is an error naming it."""
        value = getattr(self, role)
        if value is None:
            return None
        expanded = os.path.expandvars(value)
        if "$" in expanded:
            raise ConfigError(f"profile key cluster.{key}.{role} = {value!r}: the environment variable is not set "
                              "(the Helm values / ECS task definition set it; see README § Run on a cluster)")
        return expanded


class ClusterConfig(StrictModel):
    # Images per role (`${VAR}` expands when the definitions load); null = the run launcher's own image.
    images: ImageSet = ImageSet()
    # ECS cannot change a task's image per run: GPU runs switch to the task definition of their
    # image (deploy/ecs/*.json registered under these families).
    ecs_task_definitions: ImageSet = ImageSet()
    # What a GPU pod requests per GPU on top of the GPUs (a GPU node's CPU and RAM split evenly).
    cpu_per_gpu: int = Field(8, ge=1)
    memory_gib_per_gpu: int = Field(64, ge=1)
