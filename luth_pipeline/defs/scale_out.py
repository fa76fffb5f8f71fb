"""Scale-out: runs of the GPU stages ask the cluster for a GPU node.

The production instance (configs/dagster/dagster.prod.yaml) launches one Kubernetes Job (or ECS
task) per run. Dagster's run launchers read per-run resources from run tags, so the `gpu_assets`
job carries tags for both launchers: on Kubernetes a `nvidia.com/gpu` limit, a GPU node selector
and the GPU taint's toleration; on ECS a GPU resource requirement and a GPU capacity provider.
Launch GPU stages through this job (UI → Jobs, or a schedule/sensor targeting it); data stages
run on the launcher's default CPU pods. Locally the tags are inert.
"""

import json

import dagster as dg

# Stages whose assets use pool="gpu" (fine-tuning, merging, vLLM evaluation).
GPU_GROUPS = ("train", "merge", "eval")

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

gpu_assets = dg.define_asset_job(
    "gpu_assets",
    selection=dg.AssetSelection.groups(*GPU_GROUPS),
    tags=GPU_RUN_TAGS,
    description="The GPU stages (train, merge, eval) on GPU nodes of the cluster (see configs/dagster/).",
)
