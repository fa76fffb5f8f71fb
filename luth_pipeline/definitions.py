"""Everything Dagster loads: the profile, read once, builds every stage and the shared resources.

Each stage module exposes `build(profile, partitions) -> dg.Definitions` (its asset bodies stay plain
module-level functions; the factory adds the decorators: keys, partitions, code versions, tags);
`STAGE_FACTORIES` lists them all. Asset bodies read the same profile at run time through the
`luth_config` resource, which names the same file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

from luth_pipeline.core.config import Profile, load_profile, profile_path
from luth_pipeline.defs import scale_out
from luth_pipeline.defs.eval import assets as eval_assets
from luth_pipeline.defs.eval import schedules as eval_schedules
from luth_pipeline.defs.french import assets as french_assets
from luth_pipeline.defs.french import checks as french_checks
from luth_pipeline.defs.merge import assets as merge_assets
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.scholar import assets as scholar_assets
from luth_pipeline.defs.scholar import checks as scholar_checks
from luth_pipeline.defs.sft import assets as sft_assets
from luth_pipeline.defs.sft import checks as sft_checks
from luth_pipeline.defs.sources import assets as sources_assets
from luth_pipeline.defs.sources import checks as sources_checks
from luth_pipeline.defs.train import assets as train_assets
from luth_pipeline.defs.tulu import assets as tulu_assets
from luth_pipeline.defs.tulu import checks as tulu_checks
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource

# Every stage's factory, in pipeline order: the only place that names what the code location holds.
STAGE_FACTORIES = (
    sources_assets.build, sources_checks.build,
    french_assets.build, french_checks.build,
    tulu_assets.build, tulu_checks.build,
    scholar_assets.build, scholar_checks.build,
    sft_assets.build, sft_checks.build,
    train_assets.build,
    merge_assets.build,
    eval_assets.build, eval_schedules.build,
    scale_out.build,  # the gpu_<asset> jobs
)


def build_stages(profile: Profile) -> dg.Definitions:
    """Every stage's assets, checks, jobs, schedules and sensors for `profile` (no resources: tests
    materialize them with their own)."""
    partitions = Partitions.of(profile)
    # Beta / preview / superseded APIs used knowingly (multi-dimension partition mapping, per-partition
    # checks, the checkpoint sensor): silenced while building, as Dagster's defs-folder loader did.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning))
        return dg.Definitions.merge(*(build(profile, partitions) for build in STAGE_FACTORIES))


def shared_resources(profile: Profile, path: Path) -> dict:
    return {
        "luth_config": LuthConfig(profile=str(path)),
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


def build_definitions(name_or_path: str | Path | None = None) -> dg.Definitions:
    """The code location for a profile (a name under configs/profiles/ or a YAML path; default
    $LUTH_PROFILE, else `local`), loaded once here and handed to every stage."""
    path = profile_path(str(name_or_path) if name_or_path is not None else None)
    profile = load_profile(str(path))
    shared = dg.Definitions(resources=shared_resources(profile, path), executor=executor(profile.executor))
    return dg.Definitions.merge(build_stages(profile), shared)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
