"""The eval catalogue and the fixture sets behind it."""

import json

import pytest

from luth_pipeline.core.config import ConfigError
from luth_pipeline.core.eval.datasets import load_task_split, suite_tasks, task_catalogue

REQUIRED = ["ifeval_fr", "gpqa_fr:diamond", "mmlu_fr", "math_500_fr", "arc_challenge_fr", "hellaswag_fr"]
# upstream's English task names (its eval_config.yaml)
REQUIRED_EN = ["ifeval", "gpqa:diamond", "mmlu", "math_500", "arc:challenge", "hellaswag"]


def test_every_catalogued_task_has_a_fixture_of_at_least_ten_items(local_profile):
    catalogue = task_catalogue(local_profile.eval)
    assert set(REQUIRED) <= set(catalogue)
    assert set(REQUIRED_EN) <= set(catalogue)
    for name, spec in catalogue.items():
        rows = load_task_split(spec, local_profile.eval)
        assert len(rows) >= 10, name
        for field in spec.text_fields:
            assert field.split(".")[0] in rows.column_names, (name, field)


def test_unknown_task_in_a_suite_file_names_the_file(local_profile, tmp_path):
    bad = tmp_path / "suite.txt"
    bad.write_text("ifeval_fr|0\nnot_a_task|0\n")
    config = local_profile.eval.model_copy(update={"suites": {"fr": str(bad)}})
    with pytest.raises(ConfigError, match="not_a_task"):
        suite_tasks(config)


def test_ifeval_fixture_keeps_the_real_kwargs_schema(local_profile):
    spec = task_catalogue(local_profile.eval)["ifeval_fr"]
    first = json.loads((local_profile.resolve_path(spec.fixture) / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"key", "prompt", "instruction_id_list", "kwargs"}
    assert len(first["kwargs"]) == len(first["instruction_id_list"])


def test_suite_files_accept_upstream_task_strings(local_profile, tmp_path):
    from luth_pipeline.core.eval.datasets import lighteval_task_spec, task_name

    suite = tmp_path / "suite.txt"
    suite.write_text("community|gpqa_fr:diamond|0|0\nleaderboard|arc:challenge|0|0\nmmlu_fr|0\n")
    config = local_profile.eval.model_copy(update={"suites": {"fr": str(suite)}})
    entries = suite_tasks(config)["fr"]
    assert [task_name(e) for e in entries] == ["gpqa_fr:diamond", "arc:challenge", "mmlu_fr"]
    assert [lighteval_task_spec(e) for e in entries] == ["gpqa_fr:diamond|0", "arc:challenge|0", "mmlu_fr|0"]
