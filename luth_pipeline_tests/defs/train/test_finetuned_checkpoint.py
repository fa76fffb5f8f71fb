"""finetuned_checkpoint materializes a loadable HF checkpoint with both engines (tiny model, CPU)."""

import json

import dagster as dg
import polars as pl
import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from luth_pipeline.core.sft.build import dataset_folder
from luth_pipeline.resources import LuthConfig
from luth_pipeline_tests.core.train.helpers import fixture_conversations, packed_table
from luth_pipeline_tests.stage_defs import assets

[finetuned_checkpoint] = assets("finetuned_checkpoint")


def _assert_loads_and_generates(path):
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    ids = tok.apply_chat_template([{"role": "user", "content": "Bonjour !"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md", "training_summary.json"):
        assert (path / name).is_file(), name


def _materialize(resources, instance):
    return dg.materialize([finetuned_checkpoint], resources=resources, partition_key="tiny", instance=instance)


# These tests write the training data straight into the store, outside Dagster, so no check ever
# ran on it: the check gate is off here (it is tested in test_training_gate.py).
UNGATED = "extends: local\ntrain:\n  require_passed_checks: false\n"


@pytest.fixture
def ungated_resources(luth_resources, tmp_path):
    profile_file = tmp_path / "ungated.yaml"
    profile_file.write_text(UNGATED)
    return {**luth_resources, "luth_config": LuthConfig(profile=str(profile_file))}


def test_light_engine_checkpoint(ungated_resources, tiny_model_path, local_profile):
    store = ungated_resources["luth_storage"].store
    store.write(packed_table(AutoTokenizer.from_pretrained(tiny_model_path), n=60, capacity=1024), "luth_sft_packed", "tiny")
    with dg.instance_for_test() as instance:
        result = _materialize(ungated_resources, instance)
        assert result.success
        assert set(instance.get_dynamic_partitions("checkpoint")) == {"tiny.base", "tiny.finetuned"}
    meta = result.asset_materializations_for_node("finetuned_checkpoint")[0].metadata
    path = store.local_dir("finetuned_checkpoint", "tiny")
    assert meta["path"].value == str(path)
    assert meta["engine"].value == "light"
    assert meta["global_steps"].value == local_profile.train.models["tiny"].max_steps
    assert meta["tokens_per_s"].value > 0 and meta["peak_memory_gib"].value > 0
    # How it trained, in the metadata: attention backend, precision of the master weights, Liger, checkpointing.
    assert meta["attn_implementation"].value == "sdpa" and meta["master_weights"].value == "fp32"
    assert meta["liger_kernel"].value is False and meta["gradient_checkpointing"].value is False
    assert "profile" in meta["gradient_checkpointing_reason"].value and meta["memory_estimate_gib"].value["total"] > 0
    assert "data:image/png;base64," in meta["loss_curve"].value
    assert (path / "loss_curve.png").stat().st_size > 1000
    assert "learning_rate" in meta["rendered_config"].value
    summary = json.loads((path / "training_summary.json").read_text())
    assert summary["checkpoint_sha256"] == meta["checkpoint_sha256"].value
    card = (path / "README.md").read_text()
    assert "luth_sft_packed[tiny]" in card and "learning_rate" in card and "effective_batch_size" in card
    datasets = yaml.safe_load(card.split("---")[1])["datasets"]
    assert datasets and all("/" in d for d in datasets)  # hub ids, not the local name luth_sft
    _assert_loads_and_generates(path)
    assert not (local_profile.work_path / "train" / "tiny").exists() or not any((local_profile.work_path / "train" / "tiny").iterdir())


@pytest.mark.slow
def test_light_engine_on_two_processes(luth_resources, tmp_path, tiny_model_path):
    """`train.num_processes: 2`: the asset runs torchrun (gloo on CPU), streams the steps and
    writes the same kind of checkpoint folder from rank 0's saved model."""
    profile_file = tmp_path / "ddp.yaml"
    profile_file.write_text(UNGATED + "  num_processes: 2\n  models:\n    tiny: {max_steps: 3, save_steps: null}\n")
    resources = {**luth_resources, "luth_config": LuthConfig(profile=str(profile_file))}
    store = resources["luth_storage"].store
    store.write(packed_table(AutoTokenizer.from_pretrained(tiny_model_path), n=24, capacity=512), "luth_sft_packed", "tiny")
    with dg.instance_for_test() as instance:
        result = _materialize(resources, instance)
        assert result.success
        steps = [e.message for e in instance.all_logs(result.run_id) if e.message and e.message.startswith("step ")]
    meta = result.asset_materializations_for_node("finetuned_checkpoint")[0].metadata
    assert meta["world_size"].value == 2 and meta["global_steps"].value == 3
    assert meta["effective_batch_size"].value == 2 * 2 * 2  # micro × accumulation × processes
    assert len(steps) == 3  # rank 0's steps reached the run log
    _assert_loads_and_generates(store.local_dir("finetuned_checkpoint", "tiny"))


def test_missing_packed_data_names_the_asset(ungated_resources):
    with dg.instance_for_test() as instance, pytest.raises(Exception, match="luth_sft_packed"):
        _materialize(ungated_resources, instance)


@pytest.mark.slow
def test_axolotl_engine_trains_on_cpu_through_pipes(luth_resources, tmp_path):
    """The real Axolotl path: .venv-train, rendered + validated YAML, accelerate launch via Pipes."""
    profile_file = tmp_path / "axolotl_cpu.yaml"
    profile_file.write_text(
        UNGATED +
        "  engine: axolotl\n"
        "  axolotl: {cpu: true}\n"
        "  models:\n"
        "    tiny: {learning_rate: 1.0e-3, num_epochs: 1, max_steps: 3, sequence_len: 512, micro_batch_size: 2,\n"
        "           gradient_accumulation_steps: 1, optimizer: adamw_torch_fused, bf16: false,\n"
        "           gradient_checkpointing: false, deepspeed: null}\n"
    )
    resources = {**luth_resources, "luth_config": LuthConfig(profile=str(profile_file))}
    profile, store = resources["luth_config"].values, resources["luth_storage"].store
    folder = dataset_folder(store)
    (folder / "data").mkdir(parents=True)
    rows = fixture_conversations(40)
    pl.DataFrame({"id": [r["id"] for r in rows], "messages": [r["messages"] for r in rows]}).write_parquet(
        folder / "data" / "luth_smoltalk2-00000-of-00001.parquet")

    with dg.instance_for_test() as instance:
        result = _materialize(resources, instance)
        assert result.success
        logs = "\n".join(str(e.message) for e in instance.all_logs(result.run_id))
    assert "step 3/3 loss" in logs  # streamed from the Axolotl child through Pipes
    meta = result.asset_materializations_for_node("finetuned_checkpoint")[0].metadata
    assert meta["engine"].value == "axolotl" and meta["global_steps"].value == 3
    assert meta["final_loss"].value > 0 and meta["tokens_per_s"].value > 0
    assert "axolotl.cli.train" not in meta["rendered_config"].value and "sample_packing: true" in meta["rendered_config"].value
    path = store.local_dir("finetuned_checkpoint", "tiny")
    assert (path / "axolotl.yaml").is_file()
    _assert_loads_and_generates(path)
