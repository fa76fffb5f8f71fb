"""Blocking checks on the SFT data: a failure stops training from running on bad data."""


import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.sft import checks as core_checks
from luth_pipeline.core.sft.decontamination import decontamination_sets
from luth_pipeline.core.sft.split_sizes import configured_splits, split_counts, split_size_problems
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.resources import LuthConfig, LuthStorage


def _result(problems: list[str], ok: str, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems[:10]) if problems else ok,
        metadata={"problems": len(problems), **metadata},
    )


def luth_sft_decontaminated(luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.AssetCheckResult:
    profile, store = luth_config.values, luth_storage.store
    problems, rescanned = core_checks.decontamination_problems(
        profile, store.read("luth_sft", None, "decontamination"), core_checks.sft_batches(store, ["id", "messages"])
    )
    names = [s.name for s in decontamination_sets(profile.sft.decontamination, profile.eval)]
    return _result(problems, f"{len(names)} eval set(s) covered, {rescanned} rows rescanned clean", eval_sets=dg.MetadataValue.json(names))


def luth_sft_schema(luth_storage: LuthStorage) -> dg.AssetCheckResult:
    store = luth_storage.store
    problems = core_checks.sft_schema_problems(core_checks.sft_batches(store))
    problems += core_checks.hf_folder_problems(store, core_checks.sft_batches(store, ["split"]))
    return _result(problems, f"{store.num_rows('luth_sft', None, 'data')} rows valid")


def luth_sft_packed_trainable(context: dg.AssetCheckExecutionContext, luth_storage: LuthStorage) -> dg.AssetCheckResult:
    store = luth_storage.store
    batches = store.iter_batches("luth_sft_packed", context.partition_key, "data", ["labels", "seq_lens", "doc_ids"], core_checks.PACKED_BATCH_ROWS)
    empty = core_checks.documents_without_trainable_tokens(batches)
    documents = int(store.read("luth_sft_packed", context.partition_key, "data", columns=["seq_lens"])["seq_lens"].list.len().sum() or 0)
    return _result([f"document {doc} has no trainable token" for doc in empty], f"{documents} documents all trainable")


def luth_sft_packed_schema(context: dg.AssetCheckExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.AssetCheckResult:
    store = luth_storage.store
    batches = store.iter_batches("luth_sft_packed", context.partition_key, "data", batch_size=core_checks.PACKED_BATCH_ROWS)
    problems = core_checks.packed_schema_problems(batches, luth_config.values.sft.packing.sequence_len)
    bins = store.num_rows("luth_sft_packed", context.partition_key, "data")
    return _result(problems, f"{bins} bins valid", bins=bins)



def luth_sft_split_sizes(luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.AssetCheckResult:
    profile = luth_config.values
    config = profile.sft.split_sizes
    problems, table = split_size_problems(split_counts(luth_storage.store), configured_splits(profile.sft), config)
    rows = [dg.TableRecord({"split": s.split, "rows": s.rows, "expected": s.expected or 0, "ratio": s.ratio or 0.0}) for s in table]
    schema = dg.TableSchema(columns=[dg.TableColumn("split", "string"), dg.TableColumn("rows", "int"),
                                     dg.TableColumn("expected", "int"), dg.TableColumn("ratio", "float")])
    ok = f"{len(table)} split(s) non-empty" + (f", sizes within ±{config.tolerance:.0%}" if config.expected else f"; sizes not compared: {config.no_sizes_reason}")
    return _result(problems, ok, sizes=dg.MetadataValue.table(rows, schema), tolerance=config.tolerance)


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The checks of luth_sft and luth_sft_packed (per base model)."""
    return dg.Definitions(asset_checks=[
        dg.asset_check(asset="luth_sft", blocking=True, description="Decontamination ran against every configured eval set, and a fresh n-gram scan of the final rows finds no benchmark overlap.")(luth_sft_decontaminated),
        dg.asset_check(asset="luth_sft", blocking=True, description="Schema valid: chat-table columns and types, unique ids, canonical user/assistant conversations, HF dataset folder complete.")(luth_sft_schema),
        dg.asset_check(
            asset="luth_sft_packed",
            blocking=True,
            partitions_def=partitions.base_model,
            description="Every packed document has at least one trainable (assistant) token.",
        )(luth_sft_packed_trainable),
        dg.asset_check(
            asset="luth_sft_packed",
            blocking=True,
            partitions_def=partitions.base_model,
            description="Packed schema valid: column types, aligned lengths, bins ≤ sequence_len, position ids restart per document.",
        )(luth_sft_packed_schema),
        dg.asset_check(
            asset="luth_sft",
            blocking=False,  # a fidelity signal (our filters may legitimately differ), not a data-correctness guard
            description="Every split has rows, and each split's size is within `sft.split_sizes.tolerance` of the expected "
                        "size (the published Luth-SFT in `gpu`): a source that yields nothing or far too little fails with the numbers.",
        )(luth_sft_split_sizes),
    ])
