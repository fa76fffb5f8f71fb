"""Scale-out: every GPU-bound step asks the cluster for the GPUs its profile says it uses.

The production instance (configs/dagster/dagster.prod.yaml) launches one Kubernetes Job (or ECS
task) per run, and with the profile's `k8s` / `ecs` executor one per step. Both Dagster's run
launchers (run tags) and its step executors (op tags) read the same tag names, so one function,
`gpu_run_tags`, sizes a GPU pod from a GPU count and an image:
- Kubernetes: `nvidia.com/gpu` requests/limits, CPU and memory per GPU, the image, the GPU node
  selector and the GPU taint's toleration;
- ECS: a GPU resource requirement, the task definition of the image (ECS cannot change a task's
  image per run), the GPU capacity provider, CPU and memory.

The GPU counts come from the profile (`gpu_steps`): fine-tuning = the engine's process count,
merging = one GPU unless `merge.device: cpu`, evaluation = vLLM's `tensor_parallel_size`, offline
vLLM generation = the endpoint's `tensor_parallel_size`. The tags reach a GPU step three ways:
- op tags on the asset definitions: with the `k8s` / `ecs` executor the step's own pod is a GPU
  pod whatever launched the run (UI Materialize, backfills, automation);
- the `gpu_<asset>` jobs and `evaluate_checkpoint` (schedule, sensor): run tags, so the run pod
  itself is the GPU pod; they execute in process so no second pod asks for the same GPUs.
CPU steps carry no tags: they run on the launcher's default CPU pod and image. Locally the tags
are inert.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.defs.partitions import Partitions

# Labels and taint of GPU nodes as NVIDIA's GPU operator / EKS GPU node groups set them.
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
ECS_GPU_CAPACITY_PROVIDER = "luth-gpu"  # EC2 GPU instances (Fargate has no GPUs)


class GpuStep(NamedTuple):
    gpus: int
    image: str  # role in the profile's `cluster.images`: "train" or "serve"


def gpu_run_tags(gpus: int, image: str | None = None, *, ecs_task_definition: str | None = None,
                 cpu_per_gpu: int = 8, memory_gib_per_gpu: int = 64) -> dict[str, str]:
    """Run/op tags asking Kubernetes and ECS for a pod with `gpus` GPUs running `image`."""
    if gpus < 1:
        raise ValueError(f"gpu_run_tags needs at least one GPU, got {gpus}: CPU steps carry no tags")
    memory = memory_gib_per_gpu * gpus
    container: dict = {"resources": {
        "requests": {"cpu": str(cpu_per_gpu * gpus), "memory": f"{memory}Gi", "nvidia.com/gpu": str(gpus)},
        "limits": {"memory": f"{memory * 3 // 2}Gi", "nvidia.com/gpu": str(gpus)},
    }}
    if image:
        container["image"] = image
    k8s = {"container_config": container,
           "pod_spec_config": {"node_selector": GPU_NODE_SELECTOR, "tolerations": GPU_TOLERATIONS}}
    ecs_kwargs: dict = {"launchType": None, "capacityProviderStrategy": [{"capacityProvider": ECS_GPU_CAPACITY_PROVIDER, "weight": 1}]}
    if ecs_task_definition:
        ecs_kwargs["taskDefinition"] = ecs_task_definition
    return {
        "luth/accelerator": "gpu",  # the instance's tag_concurrency_limits cap concurrent GPU runs
        "luth/gpus": str(gpus),
        "dagster-k8s/config": json.dumps(k8s),
        "ecs/container_overrides": json.dumps({"resourceRequirements": [{"type": "GPU", "value": str(gpus)}]}),
        "ecs/run_task_kwargs": json.dumps(ecs_kwargs),
        "ecs/cpu": str(1024 * cpu_per_gpu * gpus),
        "ecs/memory": str(1024 * (memory_gib_per_gpu - 4) * gpus),  # headroom for the ECS agent
    }


def _endpoint_gpus(endpoint: EndpointConfig | None) -> int:
    if endpoint is None:
        return 0
    if endpoint.backend == "vllm":  # offline vLLM in the step's process
        return endpoint.tensor_parallel_size
    return 1 if endpoint.backend == "transformers" and endpoint.device.startswith("cuda") else 0


def gpu_steps(profile: Profile) -> dict[str, GpuStep]:
    """The GPU-bound assets of `profile`: GPUs one step needs and the image that runs it."""
    train = profile.train
    steps = {"finetuned_checkpoint": GpuStep(train.gpus_per_run, "train" if train.engine == "axolotl" else "serve")}
    if profile.merge.device != "cpu":
        steps["merged_checkpoint"] = GpuStep(1, "serve")  # mergekit uses one device
    evaluation = profile.eval
    if evaluation.backend == "vllm":
        steps["benchmark_scores"] = GpuStep(evaluation.vllm.tensor_parallel_size, "serve")
    elif evaluation.device.startswith("cuda"):
        steps["benchmark_scores"] = GpuStep(1, "serve")
    tulu, endpoints = profile.tulu, profile.llm.endpoints
    judge = tulu.judge if tulu.judge is not None and tulu.judge.enabled else None
    for asset, stages in (("tulu_prompts_fr", (tulu.translate,)), ("tulu_answers_fr", (tulu.answer, judge))):
        gpus = max((_endpoint_gpus(endpoints.get(stage.endpoint)) for stage in stages if stage is not None), default=0)
        if gpus:
            steps[asset] = GpuStep(gpus, "serve")
    return steps


def step_tags(profile: Profile, asset: str) -> dict[str, str]:
    """The tags of `asset`'s step under `profile`; none for a CPU step."""
    step = gpu_steps(profile).get(asset)
    if step is None:
        return {}
    cluster = profile.cluster
    return gpu_run_tags(step.gpus, cluster.images.resolve(step.image, "images"),
                        ecs_task_definition=cluster.ecs_task_definitions.resolve(step.image, "ecs_task_definitions"),
                        cpu_per_gpu=cluster.cpu_per_gpu, memory_gib_per_gpu=cluster.memory_gib_per_gpu)


def gpu_pool(profile: Profile, asset: str) -> str | None:
    """The `gpu` concurrency pool for a GPU step of `profile` (at most N GPU steps at once)."""
    return "gpu" if asset in gpu_steps(profile) else None


def gpu_job(profile: Profile, name: str, asset: str, description: str) -> dg.UnresolvedAssetJobDefinition:
    """A job of one asset whose run pod is that asset's GPU pod (in process: no second pod)."""
    tags = step_tags(profile, asset)
    return dg.define_asset_job(name, selection=dg.AssetSelection.assets(asset), tags=tags, description=description,
                               executor_def=dg.in_process_executor if tags else None)


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The `gpu_<asset>` jobs of `profile`'s GPU steps."""
    return dg.Definitions(jobs=[
        gpu_job(profile, f"gpu_{asset}", asset,
                f"{asset} on a GPU node of the cluster ({step.gpus} GPU(s), `{step.image}` image; luth_pipeline/defs/scale_out.py).")
        for asset, step in gpu_steps(profile).items()
        if asset != "benchmark_scores"  # evaluate_checkpoint (defs/eval/schedules.py) is its GPU job
    ])
