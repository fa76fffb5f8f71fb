"""Scheduled re-evaluation and evaluation of new checkpoints as soon as they exist.

- `reevaluate_checkpoints_schedule` (cron: `eval.schedule_cron`, weekly by default): one run of
  `benchmark_scores` per registered checkpoint partition; `eval_report` follows on its own
  (its automation condition, run by `eval_report_automation`: refresh once scores were updated
  and no partition is in flight).
- `new_checkpoint_sensor`: on each new `finetuned_checkpoint` / `merged_checkpoint`
  materialization, registers the checkpoint keys (`<base>.base` and `<base>.finetuned`, or
  `<base>.merged.<recipe>`) as `checkpoint` partitions and requests their evaluation.
Both are listed (and can be switched on/off) under Automation in the UI.
"""

from __future__ import annotations

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.defs.partitions import Partitions, checkpoint_partitions
from luth_pipeline.defs.publish import checkpoint_keys_for
from luth_pipeline.defs.scale_out import gpu_job

MAX_RECORDS_PER_TICK = 500

def reevaluate_checkpoints_schedule(context: dg.ScheduleEvaluationContext):
    keys = context.instance.get_dynamic_partitions(checkpoint_partitions.name)
    if not keys:
        return dg.SkipReason("no checkpoint partition registered yet")
    stamp = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    return [dg.RunRequest(run_key=f"{key}@{stamp}", partition_key=key) for key in sorted(keys)]


def new_checkpoint_sensor(context: dg.MultiAssetSensorEvaluationContext):
    known = set(context.instance.get_dynamic_partitions(checkpoint_partitions.name))
    new_keys: list[str] = []
    run_requests: list[dg.RunRequest] = []
    for asset_key in context.asset_keys:
        # Every materialization since the cursor, oldest first: a merge sweep lands several
        # partitions between two ticks and each one is a checkpoint to evaluate.
        records = context.materialization_records_for_key(asset_key, limit=MAX_RECORDS_PER_TICK)
        for record in records:
            event = record.event_log_entry
            partition = event.dagster_event.partition if event.dagster_event else None
            for key in checkpoint_keys_for(asset_key.to_user_string(), partition):
                if key not in known and key not in new_keys:
                    new_keys.append(key)
                if key.endswith(".base") and key in known:
                    continue  # a base model does not change when its fine-tune does
                run_requests.append(dg.RunRequest(run_key=f"{key}@{event.run_id}", partition_key=key))
        if records:
            context.advance_cursor({asset_key: records[-1]})
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[checkpoint_partitions.build_add_request(new_keys)] if new_keys else [],
    )


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The evaluation schedule and sensors of `profile`."""
    # The schedule's and the sensor's runs: on a cluster the run pod is a GPU pod sized from the
    # profile (vLLM tensor_parallel_size), running the serving/eval image.
    job = gpu_job(profile, "evaluate_checkpoint", "benchmark_scores", "LightEval suites on one checkpoint partition.")
    return dg.Definitions(jobs=[job], schedules=[
        dg.schedule(
            job=job,
            cron_schedule=profile.eval.schedule_cron,
            execution_timezone=profile.eval.schedule_timezone,
            default_status=dg.DefaultScheduleStatus.STOPPED,
            description="Re-evaluate every checkpoint partition (then eval_report refreshes automatically).",
        )(reevaluate_checkpoints_schedule),
    ], sensors=[
        dg.multi_asset_sensor(
            monitored_assets=[dg.AssetKey("finetuned_checkpoint"), dg.AssetKey("merged_checkpoint")],
            job=job,
            default_status=dg.DefaultSensorStatus.STOPPED,
            minimum_interval_seconds=30,
            description="Evaluate each new fine-tuned or merged checkpoint (and its base) as soon as it is materialized.",
        )(new_checkpoint_sensor),
        # Runs eval_report's automation condition (refresh once new scores land). Running by default:
        # it only ever reacts to new benchmark_scores, which someone or the schedule asked for.
        dg.AutomationConditionSensorDefinition(
            "eval_report_automation",
            target=dg.AssetSelection.assets("eval_report"),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
            description="Re-materializes eval_report when benchmark_scores partitions have been updated and none is in progress.",
        ),
    ])
