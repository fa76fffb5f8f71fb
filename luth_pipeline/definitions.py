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


# The profile's `executor` value names one of Dagster's executors (profiles choose values only).
EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}


@dg.definitions
def defs() -> dg.Definitions:
    stages = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    shared = dg.Definitions(resources=shared_resources(), executor=EXECUTORS[current_profile().executor])
    return dg.Definitions.merge(stages, shared)
