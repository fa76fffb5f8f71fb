"""benchmark_scores per checkpoint partition (in-process and through Dagster Pipes), eval_report,
the re-evaluation schedule and the new-checkpoint sensor."""

import datetime
import shutil

import dagster as dg
import polars as pl
import yaml

from luth_pipeline.core.storage import DatasetStore
from luth_pipeline.defs.publish import checkpoint_keys_for
from luth_pipeline.resources import LuthConfig
from luth_pipeline_tests.stage_defs import assets, schedule, sensor

benchmark_scores, eval_report = assets("benchmark_scores", "eval_report")
new_checkpoint_sensor = sensor("new_checkpoint_sensor")
reevaluate_checkpoints_schedule = schedule("reevaluate_checkpoints_schedule")


def _fake_finetune(store: DatasetStore, tiny_model_path: str) -> None:
    """A 'fine-tuned' checkpoint folder (the tiny base copied) where train would write it."""
    target = store.local_dir("finetuned_checkpoint", "tiny")
    shutil.copytree(tiny_model_path, target)
    (target / "README.md").write_text("---\nbase_model: org/tiny\ndatasets: [org/data]\n---\n\n# tiny\n\n## Use\n")


def test_scores_for_base_and_finetuned_then_report(luth_resources, tiny_model_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("checkpoint", ["tiny.base", "tiny.finetuned"])
    store = luth_resources["luth_storage"].store
    _fake_finetune(store, tiny_model_path)
    for key in ["tiny.base", "tiny.finetuned"]:
        result = dg.materialize([benchmark_scores], resources=luth_resources, partition_key=key, instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("benchmark_scores")[0].metadata
        assert metadata["dagster/row_count"].value == store.read("benchmark_scores", key).height
        assert "| fr | mmlu_fr | acc |" in metadata["scores"].value
    scores = store.read("benchmark_scores", "tiny.base")
    assert scores.schema["run_scores"] == pl.List(pl.Float64)
    assert scores.filter(pl.col("headline")).height == 12
    assert store.read("benchmark_scores", "tiny.base", table="details").height == 120
    # the fine-tuned checkpoint's card now carries its scores as a Hub model-index
    card = (store.local_dir("finetuned_checkpoint", "tiny") / "README.md").read_text()
    index = yaml.safe_load(card.split("---")[1])["model-index"][0]
    assert index["name"] == "tiny.finetuned" and len(index["results"]) == 12
    assert "## Evaluation results" in card and "datasets:\n- org/data" in card

    report = dg.materialize([eval_report], resources=luth_resources, instance=instance)
    assert report.success
    metadata = report.asset_materializations_for_node("eval_report")[0].metadata
    assert "tiny.finetuned" in metadata["report"].value and "Eval settings" in metadata["report"].value
    assert metadata["chart"].value.startswith("![scores](data:image/png;base64,")
    comparison = store.read("eval_report")
    finetuned = comparison.filter(pl.col("checkpoint") == "tiny.finetuned")
    # same weights as the base: every delta is exactly zero
    assert finetuned["delta_vs_base"].to_list() == [0.0] * finetuned.height


def test_missing_checkpoint_names_the_asset_to_materialize(luth_resources):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("checkpoint", ["tiny.merged.linear-050"])
    result = dg.materialize(
        [benchmark_scores], resources=luth_resources, partition_key="tiny.merged.linear-050", instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "merged_checkpoint partition tiny|linear-050" in str(failure.event_specific_data.error.message)


def test_scores_through_dagster_pipes_in_another_interpreter(luth_resources, tiny_model_path, tmp_path, local_profile):
    """The GPU path (`eval.python` = .venv-serve) exercised with this environment's interpreter."""
    import sys

    profile = tmp_path / "pipes.yaml"
    profile.write_text(yaml.safe_dump({"extends": "local", "eval": {"python": sys.executable}}))
    resources = {**luth_resources, "luth_config": LuthConfig(profile=str(profile))}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("checkpoint", ["tiny.base"])
    result = dg.materialize([benchmark_scores], resources=resources, partition_key="tiny.base", instance=instance)
    assert result.success
    scores = resources["luth_storage"].store.read("benchmark_scores", "tiny.base")
    assert set(scores["task"]) >= {"ifeval_fr", "mmlu"} and scores["num_runs"].unique().to_list() == [1]
    logs = [e.message for e in instance.all_logs(result.run_id)]
    assert any("run 1/1 fr" in (m or "") for m in logs), "worker progress reaches Dagster through Pipes"


def test_sensor_sees_every_merge_of_a_sweep_landing_between_two_ticks():
    instance = dg.DagsterInstance.ephemeral()
    recipes = ["linear-050", "slerp-050", "slerp-070"]
    partitions = dg.MultiPartitionsDefinition(
        {"base_model": dg.StaticPartitionsDefinition(["tiny"]), "recipe": dg.StaticPartitionsDefinition(recipes)}
    )

    @dg.asset(key="merged_checkpoint", partitions_def=partitions)
    def merged_checkpoint():
        return None

    definitions = dg.Definitions(assets=[merged_checkpoint], sensors=[new_checkpoint_sensor])

    def tick(cursor=None):
        context = dg.build_multi_asset_sensor_context(
            monitored_assets=[dg.AssetKey("finetuned_checkpoint"), dg.AssetKey("merged_checkpoint")],
            instance=instance, definitions=definitions, cursor=cursor,
        )
        return new_checkpoint_sensor(context), context.cursor

    for recipe in recipes:
        dg.materialize([merged_checkpoint], instance=instance,
                       partition_key=dg.MultiPartitionKey({"base_model": "tiny", "recipe": recipe}))
    result, cursor = tick()
    assert sorted(r.partition_key for r in result.run_requests) == [f"tiny.merged.{r}" for r in recipes]
    assert sorted(result.dynamic_partitions_requests[0].partition_keys) == [f"tiny.merged.{r}" for r in recipes]
    instance.add_dynamic_partitions("checkpoint", [f"tiny.merged.{r}" for r in recipes])
    result, cursor = tick(cursor)
    assert result.run_requests == [], "a materialization already handled is not evaluated again"
    dg.materialize([merged_checkpoint], instance=instance, partition_key=dg.MultiPartitionKey({"base_model": "tiny", "recipe": "slerp-050"}))
    result, _ = tick(cursor)
    assert [r.partition_key for r in result.run_requests] == ["tiny.merged.slerp-050"]  # re-merged: re-evaluate


def test_report_refreshes_when_scores_land_though_other_checkpoints_have_none(luth_resources):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("checkpoint", ["tiny.base", "tiny.finetuned", "tiny.merged.slerp-050"])
    definitions = dg.Definitions(assets=[benchmark_scores, eval_report], resources=luth_resources)
    selection = dg.AssetSelection.assets("eval_report")

    result = dg.evaluate_automation_conditions(definitions, instance, asset_selection=selection)
    assert result.total_requested == 0, "no scores yet: nothing to report"
    instance.report_runless_asset_event(dg.AssetMaterialization("benchmark_scores", partition="tiny.base"))
    result = dg.evaluate_automation_conditions(definitions, instance, asset_selection=selection, cursor=result.cursor)
    assert result.total_requested == 1, "tiny.finetuned and the merge have no scores yet; the report still refreshes"
    result = dg.evaluate_automation_conditions(definitions, instance, asset_selection=selection, cursor=result.cursor)
    assert result.total_requested == 0, "the same update is not handled twice"


def test_sensor_registers_new_checkpoints_and_requests_their_evaluation():
    instance = dg.DagsterInstance.ephemeral()
    assert checkpoint_keys_for("finetuned_checkpoint", "tiny") == ["tiny.base", "tiny.finetuned"]
    assert checkpoint_keys_for("merged_checkpoint", "base_model=tiny,recipe=slerp-050") == ["tiny.merged.slerp-050"]
    assert checkpoint_keys_for("merged_checkpoint", "tiny|slerp-050") == ["tiny.merged.slerp-050"]

    @dg.asset(key="finetuned_checkpoint", partitions_def=dg.StaticPartitionsDefinition(["tiny"]))
    def finetuned_checkpoint():
        return None

    dg.materialize([finetuned_checkpoint], partition_key="tiny", instance=instance)
    context = dg.build_multi_asset_sensor_context(
        monitored_assets=[dg.AssetKey("finetuned_checkpoint"), dg.AssetKey("merged_checkpoint")],
        instance=instance,
        definitions=dg.Definitions(assets=[finetuned_checkpoint], sensors=[new_checkpoint_sensor]),
    )
    result = new_checkpoint_sensor(context)
    assert sorted(r.partition_key for r in result.run_requests) == ["tiny.base", "tiny.finetuned"]
    assert result.dynamic_partitions_requests[0].partition_keys == ["tiny.base", "tiny.finetuned"]


def test_schedule_requests_every_checkpoint_partition():
    tick = datetime.datetime(2026, 11, 30, 3, 0, tzinfo=datetime.timezone.utc)  # a Monday, 03:00
    # Contexts used as context managers: they enter the instance, and must leave it again.
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
            assert isinstance(reevaluate_checkpoints_schedule(context), dg.SkipReason)
        instance.add_dynamic_partitions("checkpoint", ["tiny.base", "tiny.finetuned", "tiny.merged.linear-050"])
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as context:
            requests = reevaluate_checkpoints_schedule(context)
    assert [r.partition_key for r in requests] == ["tiny.base", "tiny.finetuned", "tiny.merged.linear-050"]
    # one run per checkpoint per tick: a daemon retrying the same tick does not evaluate twice
    assert [r.run_key for r in requests] == [f"{k}@20261130T0300" for k in ["tiny.base", "tiny.finetuned", "tiny.merged.linear-050"]]
    assert reevaluate_checkpoints_schedule.cron_schedule == "0 3 * * 1"
