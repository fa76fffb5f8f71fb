"""Blocking checks on the SFT data: a failure stops training from running on bad data."""


import dagster as dg

from luth_pipeline.core.sft import checks as core_checks
from luth_pipeline.core.sft.decontamination import decontamination_sets
from luth_pipeline.defs.partitions import base_model_partitions
from luth_pipeline.resources import LuthConfig, LuthStorage


def _result(problems: list[str], ok: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems[:10]) if problems else ok,
        metadata={"problems": len(problems), **metadata},
    )


@dg.asset_check(asset="luth_sft", blocking=True, description="Decontamination ran against every configured eval set, and a fresh n-gram scan of the final rows finds no benchmark overlap.")
def luth_sft_decontaminated(luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.AssetCheckResult:
    profile, store = luth_config.values, luth_storage.store
    problems, rescanned = core_checks.decontamination_problems(
        profile, store.read("luth_sft", None, "decontamination"), core_checks.sft_batches(store, ["id", "messages"])
    )
    names = [s.name for s in decontamination_sets(profile.sft.decontamination, profile.eval)]
    return _result(problems, f"{len(names)} eval set(s) covered, {rescanned} rows rescanned clean", eval_sets=dg.MetadataValue.json(names))


@dg.asset_check(asset="luth_sft", blocking=True, description="Schema valid: chat-table columns and types, unique ids, canonical user/assistant conversations, HF dataset folder complete.")
def luth_sft_schema(luth_storage: LuthStorage) -> dg.AssetCheckResult:
    store = luth_storage.store
    problems = core_checks.sft_schema_problems(core_checks.sft_batches(store))
    problems += core_checks.hf_folder_problems(store, core_checks.sft_batches(store, ["split"]))
    return _result(problems, f"{store.num_rows('luth_sft', None, 'data')} rows valid")


@dg.asset_check(
    asset="luth_sft_packed",
    blocking=True,
    partitions_def=base_model_partitions,
    description="Every packed document has at least one trainable (assistant) token.",
)
def luth_sft_packed_trainable(context: dg.AssetCheckExecutionContext, luth_storage: LuthStorage) -> dg.AssetCheckResult:
    store = luth_storage.store
    batches = store.iter_batches("luth_sft_packed", context.partition_key, "data", ["labels", "seq_lens", "doc_ids"], core_checks.PACKED_BATCH_ROWS)
    empty = core_checks.documents_without_trainable_tokens(batches)
    documents = int(store.read("luth_sft_packed", context.partition_key, "data", columns=["seq_lens"])["seq_lens"].list.len().sum() or 0)
    return _result([f"document {doc} has no trainable token" for doc in empty], f"{documents} documents all trainable")


@dg.asset_check(
    asset="luth_sft_packed",
    blocking=True,
    partitions_def=base_model_partitions,
    description="Packed schema valid: column types, aligned lengths, bins ≤ sequence_len, position ids restart per document.",
)
def luth_sft_packed_schema(context: dg.AssetCheckExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.AssetCheckResult:
    store = luth_storage.store
    batches = store.iter_batches("luth_sft_packed", context.partition_key, "data", batch_size=core_checks.PACKED_BATCH_ROWS)
    problems = core_checks.packed_schema_problems(batches, luth_config.values.sft.packing.sequence_len)
    bins = store.num_rows("luth_sft_packed", context.partition_key, "data")
    return _result(problems, f"{bins} bins valid", bins=bins)

