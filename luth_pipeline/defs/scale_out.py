"""Scale-out: runs of the GPU stages ask the cluster for a GPU node.

The production instance (configs/dagster/dagster.prod.yaml) launches one Kubernetes Job (or ECS
task) per run. Dagster's run launchers read per-run resources from run tags, so the `gpu_<asset>`
jobs carry tags for both launchers: on Kubernetes a `nvidia.com/gpu` limit, a GPU node selector
and the GPU taint's toleration; on ECS a GPU resource requirement and a GPU capacity provider.
Launch GPU stages through these jobs (UI → Jobs, or a schedule/sensor targeting them); data stages
run on the launcher's default CPU pods. Locally the tags are inert.
"""

import json

import dagster as dg

from luth_pipeline.profile import current_profile

# The assets with pool="gpu" (DESIGN.md keys). One job each: a job's assets must share one
# partitioning (base model / base model × recipe / checkpoint).
GPU_ASSETS = ("finetuned_checkpoint", "merged_checkpoint", "benchmark_scores")

def gpu_run_tags(gpus: int = 1) -> dict[str, str]:
    """Run tags asking both launchers for a GPU node with `gpus` GPUs."""
    k8s = {
        "container_config": {
            "resources": {
                "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": str(gpus)},
                "limits": {"memory": "96Gi", "nvidia.com/gpu": str(gpus)},
            }
        },
        "pod_spec_config": {
            "node_selector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }
    return {
        "luth/accelerator": "gpu",  # the instance's tag_concurrency_limits cap concurrent GPU runs
        "dagster-k8s/config": json.dumps(k8s),
        "ecs/container_overrides": json.dumps({"resourceRequirements": [{"type": "GPU", "value": str(gpus)}]}),
        "ecs/run_task_kwargs": json.dumps({"launchType": None, "capacityProviderStrategy": [{"capacityProvider": "luth-gpu", "weight": 1}]}),
        "ecs/cpu": "8192",
        "ecs/memory": "61440",
    }


def _gpus_for(asset: str) -> int:
    # Training runs one process per GPU (train.num_processes, or train.axolotl.num_processes).
    return current_profile().train.gpus_per_run if asset == "finetuned_checkpoint" else 1


gpu_jobs = [
    dg.define_asset_job(
        f"gpu_{asset}",
        selection=dg.AssetSelection.assets(asset),
        tags=gpu_run_tags(_gpus_for(asset)),
        description=f"{asset} on a GPU node of the cluster (see configs/dagster/ and luth_pipeline/defs/scale_out.py).",
    )
    for asset in GPU_ASSETS
]
