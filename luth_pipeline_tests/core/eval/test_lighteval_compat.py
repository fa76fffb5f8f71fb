"""What we change in LightEval's behaviour while evaluating, and that it leaves the process as found."""

import os
import statistics

import pytest
import torch
from lighteval.metrics.utils import stderr

from luth_pipeline.core.eval.lighteval_compat import bootstrap_in_process, grad_mode_restored


def _mean(sample):
    return statistics.fmean(sample)


def test_bootstrap_in_process_draws_what_lighteval_draws_without_forking(monkeypatch):
    population = [float(i % 7) for i in range(60)]
    reference = stderr.bootstrap_stderr(_mean, population, number_experiments=40)  # LightEval's Pool

    def no_fork():
        raise AssertionError("bootstrap forked a process")

    with bootstrap_in_process():
        monkeypatch.setattr(os, "fork", no_fork)
        ours = stderr.bootstrap_stderr(_mean, population, number_experiments=40)
        monkeypatch.undo()
    assert ours == pytest.approx(reference, rel=0, abs=0)
    assert stderr._bootstrap_internal.__call__.__name__ == "__call__", "LightEval's own method is back"


def test_grad_mode_is_restored_after_lighteval_switches_it_off():
    assert torch.is_grad_enabled()
    with grad_mode_restored():
        torch.set_grad_enabled(False)  # what importing lighteval's transformers model does
    assert torch.is_grad_enabled()
