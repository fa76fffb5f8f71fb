"""Everything Dagster loads: every stage under defs/ plus the shared resources of the profile."""

from pathlib import Path

import dagster as dg

from luth_pipeline.core.config import profile_path
from luth_pipeline.profile import current_profile
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource


def shared_resources() -> dict:
    profile = current_profile()
    return {
        "luth_config": LuthConfig(profile=str(profile_path())),
        "luth_storage": LuthStorage(root=profile.data_uri),
        "llm": LLMClientResource.from_env(),  # API keys via dg.EnvVar
    }


def executor(name: str) -> dg.ExecutorDefinition:
    """The Dagster executor a profile's `executor` value names (profiles choose values only).

    `k8s` / `ecs` run each step in its own pod / task sized by the step's op tags
    (defs/scale_out.py); their libraries are imported only when a profile names them.
    """
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if name == "ecs":
        from dagster_aws.ecs import ecs_executor

        return ecs_executor
    return {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}[name]


@dg.definitions
def defs() -> dg.Definitions:
    stages = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    shared = dg.Definitions(resources=shared_resources(), executor=executor(current_profile().executor))
    return dg.Definitions.merge(stages, shared)
