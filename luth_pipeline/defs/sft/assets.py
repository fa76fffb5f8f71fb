"""Luth-SFT: the training mixture (`luth_sft`) and its tokenized, packed form per base model."""

import os

import dagster as dg
import polars as pl

from luth_pipeline.core.config import Profile
from luth_pipeline.core.sft import build as sft
from luth_pipeline.core.sft import checks as core_checks
from luth_pipeline.core.sft.hf_dataset import push_to_hub
from luth_pipeline.core.sft.plots import length_histogram_png
from luth_pipeline.core.sft.published import hub_uri
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.metadata import card_body, column_schema, dataset_metadata, markdown_preview
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.publish import publish_plot
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage


def _mixture_deps(profile: Profile) -> list[dg.AssetDep]:
    """One dep per upstream asset the configured mixture reads (all partitions when partitioned);
    none when `sft.source` is `published` (the rows come from the hub dataset)."""
    deps: dict[str, dg.AssetDep] = {}
    if profile.sft.source == "published":
        return []
    for item in profile.sft.mixture:
        if item.asset not in deps:
            mapping = dg.AllPartitionMapping() if item.partitions else None
            deps[item.asset] = dg.AssetDep(item.asset, partition_mapping=mapping)
    return list(deps.values())


def _code_version(profile: Profile, *extra: str) -> str:
    return code_version("sft", profile.sft, *extra)


def luth_sft(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    build = sft.build_luth_sft(profile, store, log=context.log.info)
    rows, rejects = build.mixture.rows, build.mixture.rejects

    if profile.sft.hub.push:
        token = os.environ.get(profile.sft.hub.token_env)
        if not token:
            raise dg.Failure(f"sft.hub.push is on but ${profile.sft.hub.token_env} is not set: export a Hugging Face write token")
        # The blocking checks run after this asset: what they verify must hold before anything is published.
        problems = core_checks.decontamination_problems(profile, store.read("luth_sft", None, "decontamination"), rows)[0]
        problems += core_checks.sft_schema_problems(rows) + core_checks.hf_folder_problems(store, rows)
        if problems:
            raise dg.Failure("not pushing luth_sft to the Hub, it fails its checks:\n- " + "\n- ".join(problems[:10]))
        context.log.info(f"pushing {build.folder} to the Hub as {profile.sft.hub.repo_id}")
        push_to_hub(build.folder, profile.sft.hub.repo_id, token, profile.sft.hub.private)

    steps = pl.DataFrame([{"split": split, **counts} for split, counts in build.mixture.split_stats.items()]) if build.mixture.split_stats else pl.DataFrame()
    report = store.read("luth_sft", None, "decontamination")
    metadata = dataset_metadata(
        rows,
        build.uris["data"],
        upstream=[dep.asset_key for dep in _mixture_deps(profile)],
        derived={"n_tokens": ["messages"]},
        descriptions={"split": "Luth-SFT split (one per source)", "n_tokens": f"tokens with the {build.tokenizer_name} chat template"},
    )
    metadata["preview"] = dg.MetadataValue.md(markdown_preview(rows.select("id", "split", "source", "messages"), 5))
    metadata.update(
        {
            "path": dg.MetadataValue.path(build.uris["hf_dataset"]),
            "hf_dataset": dg.MetadataValue.path(build.uris["hf_dataset"]),
            "flat_table": dg.MetadataValue.path(build.uris["data"]),
            "rejects_table": dg.MetadataValue.path(build.uris["rejects"]),
            "rows_per_split": dg.MetadataValue.json({s: c["final"] for s, c in build.mixture.split_stats.items()}),
            "removed_by_step": dg.MetadataValue.md(markdown_preview(steps, rows=steps.height) if steps.height else "no input rows"),
            "rejected_rows": rejects.height,
            "duplicates_removed": sum(c["duplicate"] for c in build.mixture.split_stats.values()),
            "decontamination": dg.MetadataValue.md(markdown_preview(report, rows=report.height) if report.height else "no eval set configured"),
            "decontaminated_rows": sum(c["decontamination"] for c in build.mixture.split_stats.values()),
            "missing_inputs": dg.MetadataValue.json(build.mixture.missing),
            "sft_source": dg.MetadataValue.text(
                hub_uri(profile.sft.published) + " " + ",".join(profile.sft.published.splits) if profile.sft.source == "published" else "mixture"
            ),
            "tokens_total": sum(s.total for s in build.token_stats.values()),
            "dataset_card": card_body((build.folder / "README.md").read_text(encoding="utf-8")),
        }
    )
    return dg.MaterializeResult(metadata=metadata)


def luth_sft_packed(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    model = context.partition_key
    build = sft.build_packed(profile, store, model, log=context.log.info)
    docs = build.documents
    status_counts = dict(docs.group_by("status").len().iter_rows()) if docs.height else {}
    kept = docs.filter(~pl.col("status").str.starts_with("dropped"))
    tokens = int(kept["n_tokens"].sum() or 0)
    trainable = int(kept["n_trainable"].sum() or 0)
    metadata = {
        "dagster/row_count": build.bins,
        "path": dg.MetadataValue.path(build.uris["data"]),
        "dagster/column_schema": column_schema(build.schema),
        "documents": kept.height,
        "bins": build.bins,
        "sequence_len": build.capacity,
        "tokens_total": tokens,
        "tokens_trainable": trainable,
        "trainable_fraction": round(trainable / tokens, 4) if tokens else 0.0,
        "packing_efficiency": round(build.efficiency, 5),
        "truncated": status_counts.get("truncated", 0),
        "dropped_over_length": status_counts.get("dropped:over_length", 0),
        "dropped_no_trainable_tokens": status_counts.get("dropped:no_trainable_tokens", 0),
        # e.g. Qwen3's template strips the <think> part of earlier assistant turns (see `rejects`)
        "dropped_content_not_rendered": status_counts.get("dropped:content_not_rendered", 0),
        "label_mask": build.mask_source,
        "tokenize_seconds": round(build.tokenize_seconds, 2),
        "tokens_per_second": round(tokens / build.tokenize_seconds) if build.tokenize_seconds else 0,
        "preview": dg.MetadataValue.md(markdown_preview(build.preview, 5)),
    }
    if build.bins:
        png = length_histogram_png(kept["n_tokens"].to_numpy(), build.fill, build.capacity, f"luth_sft_packed [{model}]")
        metadata.update(publish_plot(store, "luth_sft_packed", png, "plot", "plot", partition=model, filename="lengths.png"))
    return dg.MaterializeResult(metadata=metadata)


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """Luth-SFT of `profile` and its packed form per base model."""
    return dg.Definitions(assets=[
        dg.asset(
            key="luth_sft",
            group_name="sft",
            kinds={"python", "parquet", "huggingface"},
            deps=_mixture_deps(profile),
            code_version=_code_version(profile, sft.eval_sets_digest(profile)),
            description=(
                "Luth-SFT: the configured sources (French samples, Tulu answers, Scholar exercises; or, with "
                "`sft.source: published`, the splits of the published kurakurai/luth-sft) "
                "chat-normalized, deduplicated across sources, n-gram decontaminated against every eval set, "
                "capped per split and shuffled; written as a Hugging Face dataset folder (Parquet shards per "
                "split + dataset card) and as flat `data`/`rejects`/`decontamination` tables."
            ),
        )(one_writer_per_partition(luth_sft)),
        dg.asset(
            key="luth_sft_packed",
            group_name="sft",
            kinds={"python", "transformers", "parquet"},
            deps=["luth_sft"],
            partitions_def=partitions.base_model,
            code_version=_code_version(profile),
            description=(
                "Luth-SFT tokenized with the base model's own chat template, labels on assistant turns only "
                "(template generation mask verified against an independent computation), over-length rows "
                "dropped or truncated, then packed best-fit-decreasing into `sequence_len` bins with document "
                "boundaries kept (`seq_lens`, restarting `position_ids`). Schema: luth_pipeline/core/sft/packing.py."
            ),
        )(one_writer_per_partition(luth_sft_packed)),
    ])
