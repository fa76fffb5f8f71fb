"""Mixed precision done right: bf16 autocast over fp32 master weights trains like fp32; pure bf16 does not.

At the recipe's lr 2e-5 an AdamW step moves a weight by ~2e-5, while a bf16 weight of magnitude
~0.02 is spaced ~1.2e-4 from its neighbours: pure-bf16 training rounds most updates away. The
light engine keeps fp32 weights and optimizer state and autocasts only the matmuls to bf16
(what DeepSpeed's bf16 optimizer and torch AMP do). Here all three runs train the tiny model for
the same steps on the same bins; CPU autocast exercises the same path as CUDA.
"""

import pytest
import torch
from transformers import AutoTokenizer, TrainerCallback

from luth_pipeline.core.train.light import LightTrainSettings, train_light
from luth_pipeline.core.train.packed import PackedDataset
from luth_pipeline_tests.core.train.helpers import packed_table

STEPS = 6
# Tolerance on ‖w − w_fp32‖ / ‖w_fp32 − w_0‖ after STEPS steps. bf16 keeps 8 significant bits, so
# each autocast matmul rounds its inputs by up to 2^-9 and the gradients carry errors of a few
# 2^-8 after two layers; AdamW's first steps are ~lr·g/|g|, so the update error per weight is of
# that order (measured: 1.9 %). 5 % leaves room for other seeds and is 19× below what pure bf16
# loses (96 % measured: most of its updates never happen; it changes 16–30 % of weights per step).
UPDATE_TOLERANCE = 0.05


class WeightSnapshots(TrainerCallback):
    """All weights (as fp32) before training and after every optimizer step."""

    def __init__(self):
        self.weights = []

    @staticmethod
    def _flat(model):
        return torch.cat([p.detach().float().flatten() for p in model.parameters()])

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.weights.append(self._flat(model))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.weights.append(self._flat(model))

    def changed_fraction_per_step(self) -> list[float]:
        return [float((b != a).float().mean()) for a, b in zip(self.weights, self.weights[1:])]


@pytest.fixture(scope="module")
def runs(tiny_model_path, tmp_path_factory):
    dataset = PackedDataset(packed_table(AutoTokenizer.from_pretrained(tiny_model_path), n=24, capacity=256).iter_rows(named=True))
    out = {}
    for label, precision in {
        "fp32": dict(bf16=False),
        "mixed": dict(bf16=True),  # bf16 autocast, fp32 master weights (the engine's CUDA default)
        "pure_bf16": dict(bf16=True, master_weights="bf16"),
    }.items():
        snapshots = WeightSnapshots()
        settings = LightTrainSettings(learning_rate=2e-5, max_steps=STEPS, micro_batch_size=2, gradient_accumulation_steps=1,
                                      lr_scheduler="constant", warmup_ratio=0.0, save_steps=10**6, seed=7, **precision)
        result = train_light(tiny_model_path, dataset, settings, tmp_path_factory.mktemp(label), resume=False,
                             extra_callbacks=[snapshots])
        out[label] = (result, snapshots)
    return out


def update_error(run: WeightSnapshots, reference: WeightSnapshots) -> float:
    return float((run.weights[-1] - reference.weights[-1]).norm() / (reference.weights[-1] - reference.weights[0]).norm())


def fraction_mismatch(run: WeightSnapshots, reference: WeightSnapshots) -> float:
    return max(abs(a - b) for a, b in zip(run.changed_fraction_per_step(), reference.changed_fraction_per_step()))


def test_mixed_precision_matches_the_fp32_reference(runs):
    reference = runs["fp32"][1]
    result, mixed = runs["mixed"]
    assert len(mixed.weights) == STEPS + 1
    assert result.summary["master_weights"] == "fp32" and result.summary["autocast"] == "bf16"
    assert result.summary["precision"] == "bf16 autocast, fp32 master weights + optimizer state"
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    # fp32: every weight moves every step (weight decay moves even unused embedding rows).
    assert min(reference.changed_fraction_per_step()) > 0.999
    assert 0 < update_error(mixed, reference) < UPDATE_TOLERANCE  # > 0: autocast really ran in bf16
    assert fraction_mismatch(mixed, reference) < 1e-3


def test_pure_bf16_fails_the_same_comparison(runs):
    reference = runs["fp32"][1]
    result, pure = runs["pure_bf16"]
    assert all(p.dtype == torch.bfloat16 for p in result.model.parameters())
    assert result.summary["precision"].startswith("bf16 (pure")
    assert update_error(pure, reference) > UPDATE_TOLERANCE
    assert fraction_mismatch(pure, reference) > 0.5  # most updates round away
    assert max(pure.changed_fraction_per_step()) < 0.5
