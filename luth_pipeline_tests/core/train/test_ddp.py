"""Data parallel light engine: 2 processes (torchrun, gloo on CPU) train what 1 process trains.

Same global batch (1 × micro 2 × accumulation 2 = 2 × micro 2 × accumulation 1), same seed, same
bins: the loss curve and the final weights must agree to fp32 reduction-order rounding.
"""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from luth_pipeline.core.train.launch import run_distributed, write_job
from luth_pipeline.core.train.light import LightTrainSettings, train_light
from luth_pipeline.core.train.packed import PackedDataset
from luth_pipeline_tests.core.train.helpers import packed_table

STEPS = 3


@pytest.mark.slow
def test_two_processes_follow_the_one_process_loss_curve(tiny_model_path, tmp_path):
    table = packed_table(AutoTokenizer.from_pretrained(tiny_model_path), n=24, capacity=256)
    base = dict(learning_rate=3e-3, max_steps=STEPS, micro_batch_size=2, lr_scheduler="constant", warmup_ratio=0.0,
                max_grad_norm=1.0, save_steps=10**6, seed=11, logging_steps=1)
    single = train_light(tiny_model_path, PackedDataset(table.iter_rows(named=True)),
                         LightTrainSettings(gradient_accumulation_steps=2, **base), tmp_path / "single", resume=False)

    steps = []
    job = write_job(tmp_path / "ddp", tiny_model_path, table, LightTrainSettings(gradient_accumulation_steps=1, **base), tmp_path / "ddp" / "out")
    result = run_distributed(job, 2, log=lambda line: None, on_step=lambda record, logs: steps.append(record),
                             env={"OMP_NUM_THREADS": "1"})

    assert result["summary"]["world_size"] == 2 and result["summary"]["effective_batch_size"] == 4
    assert single.summary["effective_batch_size"] == 4
    assert [r.step for r in steps] == [r["step"] for r in result["history"]] == list(range(1, STEPS + 1))
    one = [r.loss for r in single.history]
    two = [r.loss for r in steps]
    assert two == pytest.approx(one, rel=1e-4), f"1 process {one} vs 2 processes {two}"
    assert one[0] != pytest.approx(one[-1], rel=1e-3), "the weights moved, or the curve proves nothing"
    # Rank 0 saved the final model; it equals the single process's weights.
    saved = load_file(json.loads(job.read_text())["final_model"] + "/model.safetensors")
    for name, param in single.model.state_dict().items():
        if name in saved:
            torch.testing.assert_close(saved[name], param, rtol=1e-4, atol=1e-6, msg=name)
