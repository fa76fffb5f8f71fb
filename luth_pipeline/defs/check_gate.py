"""A step reads only upstream data whose blocking checks passed on its latest materialization.

Dagster's blocking checks stop downstream steps of the *same* run. A later run that
materializes a consumer alone (training, say) would still read data whose checks failed or
never ran, so the consumer asks the instance first: for every blocking check of each asset
partition it reads, the latest evaluation of that check on the latest materialization must
have passed. The consumer names the checks it requires (no stage imports another stage's
checks); `blocking_check_keys` lists what the definitions declare, so a test can hold the two
together.
"""

from __future__ import annotations

import dagster as dg

from luth_pipeline.defs.metadata import latest_materialization


def blocking_check_keys(repository: dg.RepositoryDefinition, asset: str) -> list[dg.AssetCheckKey]:
    """The blocking checks the definitions declare on `asset` (separate checks or check specs)."""
    key = dg.AssetKey(asset)
    specs = [spec for checks in repository.asset_checks_defs_by_key.values() for spec in checks.check_specs]
    if key in repository.assets_defs_by_key:
        specs += list(repository.assets_defs_by_key[key].check_specs)
    return sorted({spec.key for spec in specs if spec.asset_key == key and spec.blocking}, key=lambda k: k.name)


def _label(asset: str, partition: str | None) -> str:
    return asset + (f"[{partition}]" if partition else "")


def _latest_evaluation_of(instance: dg.DagsterInstance, check_key: dg.AssetCheckKey, materialization, history: int = 100):
    """The latest completed evaluation of `check_key` that targeted `materialization` (same run or later), or None."""
    for execution in instance.event_log_storage.get_asset_check_execution_history(check_key, limit=history):
        evaluation = execution.evaluation
        target = evaluation.target_materialization_data if evaluation is not None else None
        if target is not None and target.storage_id == materialization.storage_id:
            return evaluation
    return None


def unchecked_data_problems(instance: dg.DagsterInstance, reads: dict[str, str | None],
                            required_checks: dict[str, list[str]]) -> list[str]:
    """Why the asset partitions in `reads` ({asset: partition or None}) are not fit to read, given the
    checks (by name) each asset must have passed (empty = fit)."""
    problems = []
    for asset, partition in reads.items():
        materialization = latest_materialization(instance, asset, partition)
        if materialization is None:
            problems.append(f"{_label(asset, partition)} was never materialized in this instance")
            continue
        for check_key in (dg.AssetCheckKey(dg.AssetKey(asset), name) for name in required_checks.get(asset, [])):
            label = f"{check_key.name} on {_label(asset, partition)}"
            evaluation = _latest_evaluation_of(instance, check_key, materialization)
            if evaluation is None:
                problems.append(f"{label} has not run on the latest materialization (run {materialization.run_id[:8]})")
            elif not evaluation.passed:
                problems.append(f"{label} failed: {evaluation.description or 'no description'}")
    return problems
