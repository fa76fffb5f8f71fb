"""GPU steps are sized from the profile: the `prod` definitions render, through dagster-k8s's own
job builder and botocore's ECS model, into pods / tasks asking for the GPUs and image the profile says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.defs.scale_out import gpu_run_tags

IMAGES = {"LUTH_IMAGE": "registry.example/luth-cpu:7", "LUTH_TRAIN_IMAGE": "registry.example/luth-train:7",
          "LUTH_SERVE_IMAGE": "registry.example/luth-serve:7"}
PROD_INSTANCE = REPO_ROOT / "configs" / "dagster" / "dagster.prod.yaml"

# The prod profile as a team with bigger GPUs would set it: 4 training processes, the eval model and
# the offline-vLLM teacher on 2 GPUs each.
SCALED_PROFILE = """\
extends: prod
train: {axolotl: {num_processes: 4}}
eval: {vllm: {tensor_parallel_size: 2}}
llm: {endpoints: {vllm_offline: {tensor_parallel_size: 2}}}
tulu:
  translate: {endpoint: vllm_offline}
  answer: {endpoint: vllm_offline}
  judge: {endpoint: vllm_offline}
"""

def render_definitions(profile: str | Path) -> dict:
    """Jobs, op tags and pools of the definitions built from `profile`, with the image variables set as
    the Helm values / ECS task definitions set them."""
    from luth_pipeline.definitions import build_definitions

    with pytest.MonkeyPatch.context() as env:
        for key, value in {**IMAGES, "LUTH_S3_BUCKET": "luth-test"}.items():
            env.setenv(key, value)
        definitions = build_definitions(profile)
        out = {"jobs": {}, "op_tags": {}, "pools": {}}
        repository = definitions.get_repository_def()
        for job in repository.get_all_jobs():
            out["jobs"][job.name] = {"tags": dict(job.tags), "executor": job.executor_def.name}
        graph = definitions.resolve_asset_graph()
        for key in graph.get_all_asset_keys():
            node = graph.get(key)
            if node.is_materializable:
                out["op_tags"][key.to_user_string()] = dict(definitions.resolve_assets_def(key).op.tags)
                out["pools"][key.to_user_string()] = sorted(node.pools or [])
        out["schedule_job"] = repository.get_schedule_def("reevaluate_checkpoints_schedule").job_name
        out["sensor_job"] = repository.get_sensor_def("new_checkpoint_sensor").job_name
    return out


@pytest.fixture(scope="module")
def prod() -> dict:
    return render_definitions("prod")


@pytest.fixture(scope="module")
def scaled(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("profile") / "scaled.yaml"
    path.write_text(SCALED_PROFILE)
    return render_definitions(path)


def k8s_run_pod(tags: dict[str, str], tmp_path: Path, monkeypatch) -> dict:
    """The pod spec K8sRunLauncher would submit for a run with `tags`, from dagster.prod.yaml's launcher."""
    import kubernetes
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job

    for key, value in {**IMAGES, "LUTH_S3_BUCKET": "luth-test"}.items():  # the daemon's env_vars pass-through
        monkeypatch.setenv(key, value)
    kubeconfig = tmp_path / "kubeconfig"  # parsed only: nothing is contacted
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}], "users": [{"name": "t", "user": {}}]}))
    config = yaml.safe_load(PROD_INSTANCE.read_text())["run_launcher"]["config"]
    config = {**config, "job_namespace": "luth", "job_image": IMAGES["LUTH_IMAGE"], "load_incluster_config": False,
              "kubeconfig_file": str(kubeconfig)}
    launcher = K8sRunLauncher(**config)
    run = DagsterRun(job_name="j", run_id="r1", tags=tags)
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job = construct_dagster_k8s_job(context.get_k8s_job_config(job_image=None, run_launcher=launcher), ["dagster"],
                                    "dagster-run-r1", user_defined_k8s_config=context.run_k8s_config,
                                    component="run_worker")
    assert isinstance(job, kubernetes.client.V1Job)
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)["spec"]["template"]["spec"]


def ecs_run_task_request(tags: dict[str, str]) -> dict:
    """RunTask arguments as EcsRunLauncher assembles them from the run tags, checked by botocore's ECS model."""
    import botocore.session
    from botocore.validate import ParamValidator

    kwargs = {"cluster": "luth", "taskDefinition": "luth-cpu", "launchType": "EC2",
              "overrides": {"containerOverrides": [{"name": "run", "command": ["dagster"],
                                                    **json.loads(tags["ecs/container_overrides"])}],
                            "cpu": tags["ecs/cpu"], "memory": tags["ecs/memory"]}}
    kwargs.update(json.loads(tags["ecs/run_task_kwargs"]))
    if kwargs.get("capacityProviderStrategy"):  # the launcher drops launchType then
        kwargs.pop("launchType")
    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RunTask").input_shape
    report = ParamValidator().validate(kwargs, shape)
    assert not report.has_errors(), report.generate_report()
    return kwargs


def assert_gpu_pod(pod: dict, gpus: int, image: str) -> None:
    container = pod["containers"][0]
    assert container["image"] == image
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    assert container["resources"]["requests"]["nvidia.com/gpu"] == str(gpus)
    assert container["resources"]["requests"]["cpu"] == str(8 * gpus)
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    # The launcher's own settings survive the GPU override: shared work volume, service account.
    assert {"name": "luth-work", "mountPath": "/mnt/luth-work"} in container["volumeMounts"]
    assert pod["serviceAccountName"] == "luth-run"


# GPU step -> (job that launches it with run tags, image role, GPUs in prod, GPUs in the scaled profile)
GPU_STEPS = {
    "finetuned_checkpoint": ("gpu_finetuned_checkpoint", "LUTH_TRAIN_IMAGE", 1, 4),
    "merged_checkpoint": ("gpu_merged_checkpoint", "LUTH_SERVE_IMAGE", 1, 1),
    "benchmark_scores": ("evaluate_checkpoint", "LUTH_SERVE_IMAGE", 1, 2),
    "tulu_prompts_fr": ("gpu_tulu_prompts_fr", "LUTH_SERVE_IMAGE", None, 2),
    "tulu_answers_fr": ("gpu_tulu_answers_fr", "LUTH_SERVE_IMAGE", None, 2),
}


@pytest.mark.parametrize("profile_name", ["prod", "scaled"])
@pytest.mark.parametrize("asset", sorted(GPU_STEPS))
def test_every_gpu_step_asks_for_the_profiles_gpus_and_image(asset, profile_name, request, tmp_path, monkeypatch):
    rendered = request.getfixturevalue(profile_name)
    job_name, image_var, prod_gpus, scaled_gpus = GPU_STEPS[asset]
    gpus = prod_gpus if profile_name == "prod" else scaled_gpus
    if gpus is None:  # prod's teacher is an external `vllm serve`: the Tulu steps are CPU steps
        assert rendered["op_tags"][asset] == {} and job_name not in rendered["jobs"]
        assert rendered["pools"][asset] == []
        return
    # Launched through its job (schedule, sensor, UI Jobs): the run pod is the GPU pod.
    job = rendered["jobs"][job_name]
    assert job["executor"] == "in_process", "a second (step) pod would ask for the same GPUs"
    assert_gpu_pod(k8s_run_pod(job["tags"], tmp_path, monkeypatch), gpus, IMAGES[image_var])
    # Launched any other way (UI Materialize, backfill): the k8s executor gives the step its GPU pod.
    assert rendered["jobs"]["__ASSET_JOB"]["executor"] == "k8s"
    assert rendered["op_tags"][asset] == job["tags"]
    assert rendered["pools"][asset] == ["gpu"]
    # ECS: a GPU task of the image's task definition on the GPU capacity provider.
    request_kwargs = ecs_run_task_request(job["tags"])
    assert request_kwargs["overrides"]["containerOverrides"][0]["resourceRequirements"] == [{"type": "GPU", "value": str(gpus)}]
    assert request_kwargs["taskDefinition"] == {"LUTH_TRAIN_IMAGE": "luth-train", "LUTH_SERVE_IMAGE": "luth-serve"}[image_var]
    assert request_kwargs["capacityProviderStrategy"][0]["capacityProvider"] == "luth-gpu"


def test_reevaluation_runs_on_the_gpu_job(prod):
    assert prod["schedule_job"] == prod["sensor_job"] == "evaluate_checkpoint"
    assert prod["jobs"]["evaluate_checkpoint"]["tags"]["luth/accelerator"] == "gpu"


def test_cpu_steps_ask_for_cpu_pods(prod, tmp_path, monkeypatch):
    cpu_steps = set(prod["op_tags"]) - set(GPU_STEPS)
    assert {"raw_multilingual_dumps", "french_samples", "luth_sft", "luth_sft_packed", "eval_report"} <= cpu_steps
    for asset in cpu_steps:
        assert "dagster-k8s/config" not in prod["op_tags"][asset], asset
    pod = k8s_run_pod({}, tmp_path, monkeypatch)  # the launcher's default: CPU pod, orchestrator image, no GPU
    assert pod["containers"][0]["image"] == IMAGES["LUTH_IMAGE"]
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in pod


def test_gpu_run_tags_scale_with_the_gpu_count():
    one, eight = gpu_run_tags(1), gpu_run_tags(8, "img:1")
    assert json.loads(one["dagster-k8s/config"])["container_config"].get("image") is None
    k8s = json.loads(eight["dagster-k8s/config"])["container_config"]
    assert k8s["image"] == "img:1" and k8s["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert k8s["resources"]["requests"]["memory"] == "512Gi" and k8s["resources"]["limits"]["memory"] == "768Gi"
    assert int(eight["ecs/cpu"]) == 8 * int(one["ecs/cpu"])
    with pytest.raises(ValueError, match="CPU steps carry no tags"):
        gpu_run_tags(0)


def test_an_unset_image_variable_is_named(monkeypatch):
    from luth_pipeline.core.config import ConfigError, load_profile
    from luth_pipeline.defs.scale_out import step_tags

    monkeypatch.delenv("LUTH_TRAIN_IMAGE", raising=False)
    with pytest.raises(ConfigError, match=r"cluster\.images\.train.*LUTH_TRAIN_IMAGE"):
        step_tags(load_profile("prod"), "finetuned_checkpoint")


def test_gpus_per_run_follow_the_engine():
    """The training run asks for as many GPUs as the engine starts processes."""
    train = load_profile("gpu").train
    light = train.model_copy(update={"engine": "light", "num_processes": 8})
    axolotl = train.model_copy(update={"engine": "axolotl", "axolotl": train.axolotl.model_copy(update={"num_processes": 2})})
    assert light.gpus_per_run == 8 and axolotl.gpus_per_run == 2
