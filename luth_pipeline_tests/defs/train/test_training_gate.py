"""A blocking check that failed (in this run or an earlier one), or never ran on the latest data,
stops `finetuned_checkpoint` before it trains."""

import dagster as dg
import polars as pl
import pytest

from luth_pipeline.definitions import build_definitions
from luth_pipeline.defs.check_gate import blocking_check_keys, unchecked_data_problems
from luth_pipeline.defs.train.assets import REQUIRED_CHECKS
from luth_pipeline_tests.core.sft.chat_tables import eval_rows, write_french_samples
from luth_pipeline_tests.stage_defs import assets, checks

SFT = [*assets("luth_sft", "luth_sft_packed"), *checks("luth_sft_decontaminated", "luth_sft_schema",
                                                       "luth_sft_packed_trainable", "luth_sft_packed_schema")]
[finetuned_checkpoint] = assets("finetuned_checkpoint")


def _train(resources, instance):
    return dg.materialize([finetuned_checkpoint], resources=resources, partition_key="tiny", instance=instance,
                          raise_on_error=False)


def training_data_problems(instance, base_model: str) -> list[str]:
    return unchecked_data_problems(instance, {"luth_sft": None, "luth_sft_packed": base_model}, REQUIRED_CHECKS)


def test_training_requires_every_blocking_check_the_sft_stage_declares():
    repository = build_definitions("local").get_repository_def()
    assert {asset: [k.name for k in blocking_check_keys(repository, asset)] for asset in REQUIRED_CHECKS} == REQUIRED_CHECKS


def _failure_message(result) -> str:
    return next(e for e in result.all_events if e.is_step_failure).event_specific_data.error.message


@pytest.fixture
def checked_data(luth_resources):
    """luth_sft and luth_sft_packed[tiny] materialized with their (passing) checks."""
    store = luth_resources["luth_storage"].store
    write_french_samples(store, limit=30)
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(SFT, resources=luth_resources, instance=instance, selection=["luth_sft"]).success
    packed = dg.materialize(SFT, resources=luth_resources, instance=instance, partition_key="tiny", selection=["luth_sft_packed"])
    assert packed.success and all(e.passed for e in packed.get_asset_check_evaluations())
    return instance, store


def test_nothing_materialized_means_no_training(luth_resources):
    instance = dg.DagsterInstance.ephemeral()
    result = _train(luth_resources, instance)
    assert not result.success
    assert "luth_sft was never materialized" in _failure_message(result)


def test_passing_checks_open_the_gate(checked_data):
    instance, _ = checked_data
    assert training_data_problems(instance, "tiny") == []


def test_a_check_failing_in_a_later_run_stops_training(checked_data, luth_resources):
    instance, store = checked_data
    # Someone slips a benchmark question into luth_sft, then runs its checks (a run of their own).
    rows = store.read("luth_sft")
    question = eval_rows("mmlu_fr")[0]["Question"]
    messages = rows["messages"].to_list()
    messages[0] = [{"role": "user", "content": question}, {"role": "assistant", "content": "Canberra."}]
    store.write(rows.with_columns(pl.Series("messages", messages, dtype=rows.schema["messages"])), "luth_sft")
    check_run = dg.materialize(SFT[:1] + SFT[2:4], resources=luth_resources, instance=instance,
                               selection=dg.AssetSelection.checks_for_assets("luth_sft"), raise_on_error=False)
    assert [e.passed for e in check_run.get_asset_check_evaluations() if e.check_name == "luth_sft_decontaminated"] == [False]

    result = _train(luth_resources, instance)
    assert not result.success
    message = _failure_message(result)
    assert "luth_sft_decontaminated on luth_sft failed" in message and "overlaps mmlu_fr" in message
    assert not store.local_dir("finetuned_checkpoint", "tiny").exists()


def test_data_rematerialized_without_its_checks_stops_training(checked_data, luth_resources):
    instance, _ = checked_data
    unchecked = dg.materialize(assets("luth_sft_packed"), resources=luth_resources, instance=instance, partition_key="tiny")
    assert unchecked.success and not unchecked.get_asset_check_evaluations()
    problems = training_data_problems(instance, "tiny")
    assert len(problems) == 2 and all("has not run on the latest materialization" in p for p in problems), problems
