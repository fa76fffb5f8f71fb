"""Training reads only data whose blocking checks passed on its latest materialization.

Dagster's blocking checks stop downstream steps of the *same* run. A later run that
materializes `finetuned_checkpoint` alone would still read data whose checks failed (or never
ran), so the training asset asks the instance first: for every blocking check of `luth_sft` and
of `luth_sft_packed[<base model>]`, the latest evaluation must target the latest
materialization and have passed.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from luth_pipeline.defs.sft.checks import (
    luth_sft_decontaminated,
    luth_sft_packed_schema,
    luth_sft_packed_trainable,
    luth_sft_schema,
)

BLOCKING_CHECKS = {
    "luth_sft": (luth_sft_decontaminated, luth_sft_schema),
    "luth_sft_packed": (luth_sft_packed_trainable, luth_sft_packed_schema),
}


def _latest_materialization(instance: dg.DagsterInstance, asset: str, partition: str | None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0] if records else None


def _check_problem(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, partition: str | None, materialization) -> str | None:
    label = f"{check_key.name} on {check_key.asset_key.to_user_string()}" + (f"[{partition}]" if partition else "")
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [check_key], partition_filter=PartitionKeyFilter(key=partition)
    ).get(check_key)
    if latest is None or latest.status == AssetCheckExecutionRecordStatus.PLANNED or latest.evaluation is None:
        return f"{label} has no completed evaluation"
    evaluation = latest.evaluation
    target = evaluation.target_materialization_data
    on_latest = latest.run_id == materialization.run_id or (target is not None and target.storage_id == materialization.storage_id)
    if not on_latest:
        return f"{label} last ran on an older materialization (run {latest.run_id[:8]}), not the latest one (run {materialization.run_id[:8]})"
    if not evaluation.passed:
        return f"{label} failed: {evaluation.description or 'no description'}"
    return None


def training_data_problems(instance: dg.DagsterInstance, base_model: str) -> list[str]:
    """Why the data `finetuned_checkpoint[base_model]` would read is not fit to train on (empty = fit)."""
    problems = []
    for asset, checks in BLOCKING_CHECKS.items():
        partition = base_model if asset == "luth_sft_packed" else None
        materialization = _latest_materialization(instance, asset, partition)
        if materialization is None:
            problems.append(f"{asset}" + (f"[{partition}]" if partition else "") + " was never materialized in this instance")
            continue
        for check in checks:
            for check_key in check.check_keys:
                problem = _check_problem(instance, check_key, partition, materialization)
                if problem:
                    problems.append(problem)
    return problems
