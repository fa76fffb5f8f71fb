"""Metric correctness: a scripted model through the real LightEval pipeline scores exactly 100 %,
0 % and a known fraction, for each task family (MCQ by letter, MCQ by log-likelihood, maths
with equivalent forms and French decimal commas, IFEval, exact match)."""

import pytest

from luth_pipeline.core.eval.runner import evaluate_checkpoint
from luth_pipeline_tests.core.eval.scripted_model import ScriptedModel

TASKS = {
    "gpqa_fr:diamond": "mcq_pass@1",  # generative, letter extracted from "Réponse : B"
    "mmlu_fr": "acc",  # log-likelihood over the letters
    "arc_challenge_fr": "acc",  # log-likelihood over the answer texts
    "math_500_fr": "math_pass@1",  # boxed, sympy-equivalent forms, decimal commas
    "kholle_fr": "kholle_pass@1",  # boxed with units, MCQ options, decimal commas
    "ifeval_fr": "prompt_level_strict_acc",
    "hellaswag_fr": "em",
    "boolq_fr": "em",
    # upstream's English log-likelihood tasks (LightEval 0.10 leaderboard prompts)
    "mmlu": "acc",
    "arc:challenge": "acc",
    "hellaswag": "acc",
}


@pytest.fixture
def suite_config(local_profile, tmp_path):
    suite = tmp_path / "suite.txt"
    suite.write_text("".join(f"{name}|0\n" for name in TASKS))
    # every fixture item (11 or 10 per task), no sampling
    return local_profile.eval.model_copy(update={"suites": {"fr": str(suite)}, "max_samples": None})


def _scores(config, policy, tmp_path):
    model = ScriptedModel(policy, cache_dir=str(tmp_path / "cache"))
    result = evaluate_checkpoint("scripted", config, "tiny.base", model=model)
    table = {(r["task"], r["metric"]): r for r in result.scores.iter_rows(named=True)}
    return {task: table[(task, metric)] for task, metric in TASKS.items()}, result, model


def test_gold_answers_score_100_percent(suite_config, tmp_path):
    scores, result, _ = _scores(suite_config, lambda doc: True, tmp_path)
    for task, row in scores.items():
        assert row["score"] == 1.0, (task, result.details.filter(result.details["task"] == task).to_dicts()[:2])
        assert row["headline"] and row["num_runs"] == 1 and row["num_samples"] >= 10


def test_wrong_answers_score_0_percent(suite_config, tmp_path):
    scores, _, _ = _scores(suite_config, lambda doc: False, tmp_path)
    assert {task: row["score"] for task, row in scores.items()} == dict.fromkeys(TASKS, 0.0)


def test_known_mix_gives_the_exact_fraction(suite_config, tmp_path):
    every_third = lambda doc: int(doc.id) % 3 == 0  # noqa: E731
    scores, result, model = _scores(suite_config, every_third, tmp_path)
    for task, row in scores.items():
        docs = {d.id for d in model.seen if d.task_name.startswith(task + "|")}
        expected = sum(int(i) % 3 == 0 for i in docs) / len(docs)
        assert row["score"] == pytest.approx(expected, abs=1e-12), task
        assert row["num_samples"] == len(docs)
        assert 0 < expected < 1
    # per-sample details keep what was asked, answered and extracted
    maths = result.details.filter(result.details["task"] == "math_500_fr")
    assert maths.height == scores["math_500_fr"]["num_samples"]
    assert maths["extracted"].drop_nulls().len() == maths.height


def test_two_runs_are_averaged_with_their_spread(suite_config, tmp_path):
    config = suite_config.model_copy(update={"num_runs": 2})
    scores, result, _ = _scores(config, lambda doc: True, tmp_path)
    row = scores["mmlu_fr"]
    assert row["num_runs"] == 2 and row["run_scores"] == [1.0, 1.0] and row["run_std"] == 0.0
    assert set(result.details["run"].unique()) == {1, 2}


def test_the_model_runs_with_the_configured_threads_and_the_process_gets_its_own_back(suite_config, tmp_path):
    import torch

    threads_seen = []

    def policy(doc):
        threads_seen.append(torch.get_num_threads())
        return True

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _scores(suite_config.model_copy(update={"num_threads": 1}), policy, tmp_path)
        assert threads_seen and set(threads_seen) == {1}
        assert torch.get_num_threads() == 2, "a later stage in the same process (training) keeps its threads"
    finally:
        torch.set_num_threads(before)
