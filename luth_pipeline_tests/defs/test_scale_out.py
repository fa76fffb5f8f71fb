"""The training run asks the cluster for as many GPUs as the engine starts processes."""

import json

from luth_pipeline.core.config import load_profile
from luth_pipeline.defs.scale_out import gpu_run_tags


def test_run_tags_ask_both_launchers_for_n_gpus():
    tags = gpu_run_tags(4)
    k8s = json.loads(tags["dagster-k8s/config"])["container_config"]["resources"]
    assert k8s["requests"]["nvidia.com/gpu"] == k8s["limits"]["nvidia.com/gpu"] == "4"
    assert {"type": "GPU", "value": "4"} in json.loads(tags["ecs/container_overrides"])["resourceRequirements"]


def test_gpus_per_run_follow_the_engine():
    train = load_profile("gpu").train
    light = train.model_copy(update={"engine": "light", "num_processes": 8})
    axolotl = train.model_copy(update={"engine": "axolotl", "axolotl": train.axolotl.model_copy(update={"num_processes": 2})})
    assert light.gpus_per_run == 8 and axolotl.gpus_per_run == 2
