"""The memory estimate and the switches it decides (gradient checkpointing, Liger advice)."""

import pytest
import torch
from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

from luth_pipeline.core.train.light import LightTrainSettings, train_light
from luth_pipeline.core.train.memory import GIB, estimate_training_memory, plan_memory
from luth_pipeline.core.train.packed import PackedDataset
from luth_pipeline_tests.core.train.helpers import packed_table

# Qwen/Qwen3-1.7B's config.json (architecture only).
QWEN3_17B = dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True)


@pytest.fixture(scope="module")
def qwen3_17b():
    config = Qwen3Config(**QWEN3_17B)
    with torch.device("meta"):  # parameter count without allocating 1.7B weights
        n_params = sum(p.numel() for p in Qwen3ForCausalLM(config).parameters())
    return config, n_params


def test_per_parameter_bytes_follow_the_precision(qwen3_17b):
    config, n = qwen3_17b
    mixed = estimate_training_memory(config, n, 1, master_weights="fp32", autocast_bf16=True)
    pure = estimate_training_memory(config, n, 1, master_weights="bf16", autocast_bf16=True)
    static = lambda e: e.weights + e.gradients + e.optimizer + e.autocast_copies  # noqa: E731
    assert static(mixed) == 18 * n and static(pure) == 8 * n
    assert estimate_training_memory(config, n, 1, world_size=2).ddp_buckets == 4 * n


def test_qwen3_17b_at_16k_needs_checkpointing_and_liger_on_an_80gb_gpu(qwen3_17b):
    """The issue's target: 1.7B, seq 16384, micro-batch 2, one 80 GB GPU."""
    config, n = qwen3_17b
    tokens = 2 * 16384
    h100 = 80 * GIB
    plain = estimate_training_memory(config, n, tokens, fused_linear_cross_entropy=True)
    assert 0.9 * h100 < plain.total < 0.9 * 141 * GIB  # 118 GiB: it ran on the 141 GB H200 (16.1k tok/s)
    plan = plan_memory(config, n, tokens, requested_checkpointing=None, budget_bytes=h100, liger=True, liger_installed=True)
    assert plan.gradient_checkpointing and plan.estimate.total < 0.9 * h100
    assert "on" in plan.reason and "still over budget" not in plan.reason
    # Without Liger the logits (46 GiB for 32k tokens × 152k vocabulary) push it over again (plain HF:
    # OOM on the H200 at micro-batch 2), and the reason says how to fix it.
    no_liger = plan_memory(config, n, tokens, requested_checkpointing=None, budget_bytes=h100, liger=False, liger_installed=False)
    assert no_liger.gradient_checkpointing and "liger-kernel" in no_liger.reason
    assert no_liger.estimate.logits > 10 * plan.estimate.logits


def test_a_run_that_fits_or_an_explicit_choice_is_left_alone(qwen3_17b):
    config, n = qwen3_17b
    fits = plan_memory(config, n, 4096, requested_checkpointing=None, budget_bytes=141 * GIB, liger=True, liger_installed=True)
    assert not fits.gradient_checkpointing and "fits" in fits.reason
    forced = plan_memory(config, n, 4096, requested_checkpointing=True, budget_bytes=None, liger=True, liger_installed=True)
    assert forced.gradient_checkpointing and "profile" in forced.reason
    cpu = plan_memory(config, n, 4096, requested_checkpointing=None, budget_bytes=None, liger=False, liger_installed=False)
    assert not cpu.gradient_checkpointing and "CPU" in cpu.reason


def test_engine_switches_checkpointing_on_when_the_budget_is_too_small(tiny_model_path, tmp_path):
    dataset = PackedDataset(packed_table(AutoTokenizer.from_pretrained(tiny_model_path), n=12, capacity=256).iter_rows(named=True))
    settings = LightTrainSettings(learning_rate=1e-3, max_steps=2, micro_batch_size=2, gradient_accumulation_steps=1,
                                  save_steps=10**6, memory_budget_gib=0.001)
    result = train_light(tiny_model_path, dataset, settings, tmp_path / "run", resume=False)
    s = result.summary
    assert s["gradient_checkpointing"] is True and s["gradient_checkpointing_reason"].startswith("auto: estimate")
    assert s["memory_budget_gib"] == 0.0 and s["memory_estimate_gib"]["total"] > 0
    assert getattr(result.model, "is_activation_checkpointing", None) or result.model.is_gradient_checkpointing
    assert all(r.loss is not None for r in result.history)
