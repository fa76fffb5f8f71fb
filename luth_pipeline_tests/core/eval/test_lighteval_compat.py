"""What we change in LightEval's behaviour while evaluating, and that it leaves the process as found."""

import os
import statistics

import pytest
import torch
from lighteval.metrics.utils import stderr

from luth_pipeline.core.eval.lighteval_compat import bootstrap_in_process, datasets_read_once, grad_mode_restored


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


def test_a_dataset_is_read_once_per_process_until_its_files_change(tmp_path, monkeypatch):
    import datasets
    from lighteval.tasks.lighteval_task import LightevalTask, LightevalTaskConfig

    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "test.jsonl").write_text('{"q": "a"}\n{"q": "b"}\n')
    calls = []
    real_load = datasets.load_dataset
    monkeypatch.setattr("lighteval.tasks.lighteval_task.load_dataset",
                        lambda **kwargs: calls.append(kwargs["path"]) or real_load(**kwargs))
    config = LightevalTaskConfig(name="t", prompt_function=lambda line, task: None, hf_repo=str(folder),
                                 hf_subset=None, metrics=[], evaluation_splits=["test"])

    def rows():
        task = LightevalTask(config)
        LightevalTask.load_datasets({"t": task})  # what every LightEval Pipeline does
        return task.dataset["test"]["q"]

    with datasets_read_once():
        assert rows() == ["a", "b"] and rows() == ["a", "b"]
        assert len(calls) == 1, "the second pipeline reuses the dataset read by the first"
        (folder / "test.jsonl").write_text('{"q": "a"}\n{"q": "b"}\n{"q": "c"}\n')
        assert rows() == ["a", "b", "c"] and len(calls) == 2, "an edited folder is read again"
    rows()
    assert len(calls) == 3, "outside the block LightEval's own loader runs"
