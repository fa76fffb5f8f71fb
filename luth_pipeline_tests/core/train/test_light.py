"""The light engine: a killed run resumed from its checkpoint follows the uninterrupted loss curve."""

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, TrainerCallback

from luth_pipeline.core.train.light import LightTrainSettings, train_light
from luth_pipeline.core.train.packed import PackedDataset
from luth_pipeline_tests.core.train.helpers import packed_table


class Killed(RuntimeError):
    pass


class KillAtStep(TrainerCallback):
    """Simulates a crash (OOM, pre-emption) right after optimizer step `step`."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed after step {state.global_step}")


@pytest.fixture(scope="module")
def dataset(tiny_model_path):
    table = packed_table(AutoTokenizer.from_pretrained(tiny_model_path), n=40, capacity=256)
    return PackedDataset(table.iter_rows(named=True))


def _settings(**kw):
    base = dict(learning_rate=3e-3, num_epochs=1, max_steps=6, micro_batch_size=2, gradient_accumulation_steps=2,
                warmup_ratio=0.2, weight_decay=0.01, max_grad_norm=1.0, save_steps=2, seed=7)
    return LightTrainSettings(**{**base, **kw})


def test_resume_after_kill_equals_uninterrupted_run(tiny_model_path, dataset, tmp_path):
    full = train_light(tiny_model_path, dataset, _settings(), tmp_path / "full", resume=False)

    with pytest.raises(Killed):
        train_light(tiny_model_path, dataset, _settings(), tmp_path / "killed", extra_callbacks=[KillAtStep(3)])
    assert (tmp_path / "killed" / "checkpoint-2").is_dir()
    resumed = train_light(tiny_model_path, dataset, _settings(), tmp_path / "killed")
    assert resumed.summary["resumed_from"].endswith("checkpoint-2")

    full_curve = {r.step: r.loss for r in full.history}
    resumed_curve = {r.step: r.loss for r in resumed.history}
    assert sorted(resumed_curve) == [3, 4, 5, 6]
    for step, loss in resumed_curve.items():
        assert loss == pytest.approx(full_curve[step], rel=1e-5), f"step {step}"
    lr_full = {r.step: r.learning_rate for r in full.history}
    assert all(r.learning_rate == pytest.approx(lr_full[r.step]) for r in resumed.history)
    for (name, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_schedule_accumulation_and_metrics(tiny_model_path, dataset, tmp_path):
    result = train_light(tiny_model_path, dataset, _settings(max_steps=4, save_steps=None), tmp_path / "run")
    s = result.summary
    assert s["global_steps"] == 4 and s["precision"] == "fp32" and s["attn_implementation"] == "sdpa"
    assert s["effective_batch_size"] == 4
    assert s["tokens_per_s"] > 0 and s["flops_per_token"] > 0 and s["peak_memory_bytes"] > 0
    assert s["mfu"] is None  # no known peak FLOP/s on CPU: not made up
    lrs = [r.learning_rate for r in result.history]
    # warmup 0.2 of 4 steps → 1 warmup step from 0 up to the peak, then cosine decay
    assert lrs[0] < lrs[1] == pytest.approx(3e-3) and lrs[3] < lrs[2] < lrs[1]
    assert all(r.loss is not None and r.loss > 0 for r in result.history)
    saved = load_file(next((tmp_path / "run").glob("checkpoint-*/model.safetensors")))
    assert saved  # the epoch-end checkpoint holds the weights


def test_document_masking_is_exact_for_attention_only_models_and_says_where_lfm2_leaks():
    from transformers import Lfm2Config, Qwen3Config

    from luth_pipeline.core.train.light import document_masking

    assert document_masking(Qwen3Config(num_hidden_layers=2)) == "exact"
    lfm2 = Lfm2Config(num_hidden_layers=4, layer_types=["conv", "full_attention", "conv", "full_attention"], conv_L_cache=3)
    masking = document_masking(lfm2)
    assert masking.startswith("attention layers only: 2 short-convolution layer(s)") and "first 2 token(s)" in masking
