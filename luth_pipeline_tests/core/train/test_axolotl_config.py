"""The rendered Axolotl config carries upstream's recipe and passes Axolotl's own schema."""

import json
from pathlib import Path

import pytest

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.train import axolotl as ax
from luth_pipeline.core.train.config import AxolotlSettings

DATA = ["/data/luth_sft/hf_dataset/data/luth_openhermes-00000-of-00001.parquet"]


def _render(profile, base_model, tmp_path, settings=None, flash=True):
    return ax.render_config(
        ax.load_template(profile.train.axolotl.template),
        base_model=profile.base_models[base_model].hf_id,
        spec=profile.train.model(base_model),
        settings=settings or profile.train.axolotl,
        data_files=DATA,
        output_dir=tmp_path / "out",
        prepared_dir=tmp_path / "prepared",
        flash_attn_available=flash,
        seed=42,
        run_name=f"luth-{base_model}",
    )


@pytest.fixture(scope="module")
def gpu_profile():
    return load_profile("gpu")


@pytest.fixture(scope="module")
def train_env():
    env = ax.TrainEnv.from_settings(AxolotlSettings())
    env.check()  # `make test` builds .venv-train first
    return env


def test_qwen3_06b_config_carries_upstream_values(gpu_profile, tmp_path):
    cfg = _render(gpu_profile, "qwen3-0.6b", tmp_path)
    assert cfg["base_model"] == "Qwen/Qwen3-0.6B"
    assert cfg["learning_rate"] == 2e-5
    assert cfg["num_epochs"] == 3
    assert cfg["lr_scheduler"] == "cosine" and cfg["warmup_ratio"] == 0.1
    assert cfg["sequence_len"] == 16384 and cfg["sample_packing"] is True
    assert cfg["micro_batch_size"] * cfg["gradient_accumulation_steps"] == 24
    assert (cfg["micro_batch_size"], cfg["gradient_accumulation_steps"]) == (6, 4)
    assert cfg["train_on_inputs"] is False
    assert cfg["datasets"][0]["type"] == "chat_template" and cfg["datasets"][0]["roles_to_train"] == ["assistant"]
    assert cfg["datasets"][0]["train_on_eos"] == "turn" and cfg["chat_template"] == "tokenizer_default"
    assert cfg["optimizer"] == "adamw_torch_8bit" and cfg["weight_decay"] == 0.01 and cfg["max_grad_norm"] == 0.1
    assert cfg["bf16"] is True and cfg["gradient_checkpointing"] is True
    assert cfg["attn_implementation"] == "flash_attention_2"
    assert Path(cfg["deepspeed"]).name == "zero1.json"
    assert json.loads(Path(cfg["deepspeed"]).read_text())["zero_optimization"]["stage"] == 1
    assert ax.PIPES_PLUGIN in cfg["plugins"]


def test_lfm2_12b_uses_its_own_recipe_and_sdpa_without_flash_attn(gpu_profile, tmp_path):
    cfg = _render(gpu_profile, "lfm2-1.2b", tmp_path, flash=False)
    assert cfg["learning_rate"] == 5e-5 and cfg["optimizer"] == "adamw_torch_fused" and cfg["weight_decay"] == 0.0
    assert (cfg["micro_batch_size"], cfg["gradient_accumulation_steps"]) == (10, 2)
    assert cfg["eot_tokens"] == ["<|im_end|>"]
    assert cfg["attn_implementation"] == "sdpa"


def test_every_gpu_model_config_passes_axolotl_schema_for_an_h100(gpu_profile, train_env, tmp_path):
    names = list(gpu_profile.train.models)
    paths = [ax.write_config(_render(gpu_profile, n, tmp_path / n), tmp_path / n / "axolotl.yaml") for n in names]
    for name, validated in zip(names, ax.validate_config_files(train_env, paths, ax.H100_CAPABILITIES)):
        assert validated["learning_rate"] == gpu_profile.train.models[name].learning_rate
        assert validated["sample_packing"] is True


def test_axolotl_schema_rejection_is_reported(gpu_profile, train_env, tmp_path):
    cfg = _render(gpu_profile, "qwen3-0.6b", tmp_path)
    cfg["learning_rate"] = "fast"
    path = ax.write_config(cfg, tmp_path / "bad.yaml")
    with pytest.raises(ax.AxolotlError, match="rejected(.|\n)*bad.yaml(.|\n)*learning_rate"):
        ax.validate_config_file(train_env, path)


def test_deepspeed_configs_are_valid_for_deepspeed():
    for stage in (1, 2, 3):
        cfg = json.loads((REPO_ROOT / "configs" / "train" / f"zero{stage}.json").read_text())
        assert cfg["zero_optimization"]["stage"] == stage
        assert cfg["train_micro_batch_size_per_gpu"] == "auto"  # filled by the HF Trainer integration


def test_launch_commands(tmp_path):
    env = ax.TrainEnv(Path("/opt/venv-train"))
    single = ax.launch_command(env, tmp_path / "c.yaml", AxolotlSettings(), "bf16")
    assert single[:2] == ["/opt/venv-train/bin/accelerate", "launch"]
    assert single[-3:] == ["-m", "axolotl.cli.train", str(tmp_path / "c.yaml")]
    assert "--cpu" not in single and "--multi_gpu" not in single
    multi = ax.launch_command(env, tmp_path / "c.yaml", AxolotlSettings(num_processes=8), "bf16")
    assert "--multi_gpu" in multi and multi[multi.index("--num_processes") + 1] == "8"
    nodes = ax.launch_command(env, tmp_path / "c.yaml", AxolotlSettings(num_processes=16, num_machines=2), "bf16")
    assert "--main_process_ip" in nodes and "--machine_rank" in nodes
    child = env.env({"PATH": "/usr/bin"})
    assert child["PATH"].startswith("/opt/venv-train/bin") and child["PYTHONPATH"] == str(ax.CHILD_DIR)


def test_missing_train_env_says_how_to_build_it(tmp_path):
    with pytest.raises(ax.AxolotlError, match="make .venv-train/.installed"):
        ax.TrainEnv(tmp_path / "nope").check()
