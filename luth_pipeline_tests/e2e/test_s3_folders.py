"""Folder outputs (checkpoints, the HF dataset folder) under an S3 data root, through the real
clients against moto's S3 server: published from one machine's mirror, fetched on another's,
a merge that reads its parents from S3 and writes its result there, and plots published beside
tables and inside folders."""

from __future__ import annotations

import shutil
import time

import dagster as dg
import torch
from transformers import AutoModelForCausalLM

from luth_pipeline.core.checkpoints import checkpoint_location
from luth_pipeline.core.storage import DatasetStore
from luth_pipeline.core.tulu.plots import char_length_histogram_png
from luth_pipeline.defs.publish import publish_plot
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource
from luth_pipeline_tests.stage_defs import assets

[merged_checkpoint] = assets("merged_checkpoint")


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}


def test_folder_published_from_one_mirror_is_fetched_whole_on_another(s3, tmp_path, monkeypatch):
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    root = f"s3://{s3.bucket}/luth"
    writer, reader = DatasetStore(root, mirror_dir=tmp_path / "writer"), DatasetStore(root, mirror_dir=tmp_path / "reader")
    folder = writer.local_dir("finetuned_checkpoint", "tiny")
    (folder / "shards").mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "shards" / "model-1.safetensors").write_bytes(b"x" * 1000)
    (folder / "shards" / "model-2.safetensors").write_bytes(b"y" * 1000)
    assert writer.publish_dir("finetuned_checkpoint", "tiny") == f"{root}/finetuned_checkpoint/tiny"
    assert sorted(k for k in s3.keys("luth/finetuned_checkpoint/tiny/") if not k.endswith("/")) == [
        "luth/finetuned_checkpoint/tiny/config.json", "luth/finetuned_checkpoint/tiny/shards/model-1.safetensors",
        "luth/finetuned_checkpoint/tiny/shards/model-2.safetensors"]
    fetched = reader.fetch_dir("finetuned_checkpoint", "tiny")
    assert fetched != folder and _files(fetched) == _files(folder)

    # A new version: same-size weights with other bytes, one shard fewer. The reader follows.
    time.sleep(1.1)  # S3 timestamps have one-second resolution
    (folder / "shards" / "model-1.safetensors").write_bytes(b"z" * 1000)
    (folder / "shards" / "model-2.safetensors").unlink()
    writer.publish_dir("finetuned_checkpoint", "tiny")
    assert "luth/finetuned_checkpoint/tiny/shards/model-2.safetensors" not in s3.keys("luth/")
    assert _files(reader.fetch_dir("finetuned_checkpoint", "tiny")) == _files(folder)


def test_merge_reads_its_parents_from_s3_and_publishes_the_result(s3, tmp_path, monkeypatch, tiny_model_path):
    for key, value in {**s3.env(), "LUTH_STORE_MIRROR": str(tmp_path / "mirror")}.items():
        monkeypatch.setenv(key, value)
    root = f"s3://{s3.bucket}/luth"
    trainer = DatasetStore(root, mirror_dir=tmp_path / "gpu-node")  # the node that fine-tuned
    shutil.copytree(tiny_model_path, trainer.local_dir("finetuned_checkpoint", "tiny"))
    trainer.publish_dir("finetuned_checkpoint", "tiny")

    instance = dg.DagsterInstance.ephemeral()
    resources = {"luth_config": LuthConfig(profile="local"), "luth_storage": LuthStorage(root=root), "llm": LLMClientResource()}
    key = dg.MultiPartitionKey({"base_model": "tiny", "recipe": "linear-050"})
    result = dg.materialize([merged_checkpoint], resources=resources, partition_key=key, instance=instance)
    assert result.success
    metadata = result.asset_materializations_for_node("merged_checkpoint")[0].metadata
    assert metadata["path"].value == f"{root}/merged_checkpoint/base_model=tiny,recipe=linear-050"
    assert "luth/merged_checkpoint/base_model=tiny,recipe=linear-050/config.json" in s3.keys("luth/merged_checkpoint/")

    # Another machine (empty mirror) opens the merged checkpoint by its key, as `luth chat` or eval would.
    elsewhere = DatasetStore(root, mirror_dir=tmp_path / "laptop")
    from luth_pipeline.core.config import load_profile

    path = checkpoint_location("tiny.merged.linear-050", load_profile("local"), elsewhere)
    assert str(tmp_path / "laptop") in path
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([[1, 2, 3]])).logits).all()


def test_a_table_streamed_to_s3_is_read_back_in_batches(s3, tmp_path, monkeypatch):
    import pyarrow as pa

    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    store = DatasetStore(f"s3://{s3.bucket}/luth", mirror_dir=tmp_path / "mirror")
    schema = pa.schema([("n", pa.int32())])
    with store.writer("luth_sft_packed", "tiny", "data", schema) as sink:
        for start in range(0, 50, 10):
            sink.write_table(pa.table({"n": list(range(start, start + 10))}, schema=schema))
    assert "luth/luth_sft_packed/tiny/data.parquet" in s3.keys("luth/")
    assert [b.num_rows for b in store.iter_batches("luth_sft_packed", "tiny", batch_size=20)] == [20, 20, 10]
    assert store.num_rows("luth_sft_packed", "tiny") == 50


def test_plots_published_under_s3_land_beside_the_tables_and_inside_a_published_folder(s3, tmp_path, monkeypatch):
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    root = f"s3://{s3.bucket}/luth"
    store = DatasetStore(root, mirror_dir=tmp_path / "node")
    png = char_length_histogram_png({"english": [10, 40, 300], "french": [12, 45, 320]}, "lengths")
    entries = publish_plot(store, "tulu_prompts_fr", png, "lengths", "length_plot", filename="lengths.png")
    assert entries["length_plot_path"].value == f"{root}/tulu_prompts_fr/_all/lengths.png"
    assert "luth/tulu_prompts_fr/_all/lengths.png" in s3.keys("luth/tulu_prompts_fr/")

    # A folder output: the plot is published after publish_dir (which drops remote files the mirror
    # lacks), so it stays, and another machine fetches it with the checkpoint.
    partition = {"base_model": "tiny", "recipe": "slerp-050"}
    folder = store.local_dir("merged_checkpoint", partition)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    uri = store.publish_dir("merged_checkpoint", partition)
    entries = publish_plot(store, "merged_checkpoint", png, "layer schedule", "layer_schedule_plot", partition=partition,
                           filename="layer_schedule.png")
    assert entries["layer_schedule_plot_path"].value == f"{uri}/layer_schedule.png"
    fetched = DatasetStore(root, mirror_dir=tmp_path / "laptop").fetch_dir("merged_checkpoint", partition)
    assert (fetched / "layer_schedule.png").read_bytes() == png and (fetched / "config.json").is_file()
