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

# The assets with pool="gpu" (the asset keys of the README's graph). One job each: a job's assets must share one
# partitioning (base model / base model × recipe / checkpoint).
GPU_ASSETS = ("finetuned_checkpoint", "merged_checkpoint", "benchmark_scores")

K8S_GPU_CONFIG = {
    "container_config": {
        "resources": {
            "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "96Gi", "nvidia.com/gpu": "1"},
        }
    },
    "pod_spec_config": {
        "node_selector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
}

ECS_GPU_CONTAINER_OVERRIDES = {"resourceRequirements": [{"type": "GPU", "value": "1"}]}
ECS_GPU_RUN_TASK_KWARGS = {"launchType": None, "capacityProviderStrategy": [{"capacityProvider": "luth-gpu", "weight": 1}]}

GPU_RUN_TAGS = {
    "luth/accelerator": "gpu",  # the instance's tag_concurrency_limits cap concurrent GPU runs
    "dagster-k8s/config": json.dumps(K8S_GPU_CONFIG),
    "ecs/container_overrides": json.dumps(ECS_GPU_CONTAINER_OVERRIDES),
    "ecs/run_task_kwargs": json.dumps(ECS_GPU_RUN_TASK_KWARGS),
    "ecs/cpu": "8192",
    "ecs/memory": "61440",
}

gpu_jobs = [
    dg.define_asset_job(
        f"gpu_{asset}",
        selection=dg.AssetSelection.assets(asset),
        tags=GPU_RUN_TAGS,
        description=f"{asset} on a GPU node of the cluster (see configs/dagster/ and luth_pipeline/defs/scale_out.py).",
    )
    for asset in GPU_ASSETS
]
