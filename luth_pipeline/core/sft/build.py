"""The two SFT products, composed from the stage's parts (no Dagster here).

`build_luth_sft`: mixture → HF dataset folder (shards + card) and flat tables in the store.
`build_packed`: `luth_sft` rows → tokenized with one base model's template → packed bins.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.compute as pc

from luth_pipeline.core.config import Profile
from luth_pipeline.core.models import resolve_base_model
from luth_pipeline.core.sft.decontamination import EvalIndex, build_index, decontamination_sets
from luth_pipeline.core.sft.hf_dataset import TokenStats, card_provenance, render_card, write_shards
from luth_pipeline.core.sft.mixture import MixtureResult, build_mixture, load_inputs
from luth_pipeline.core.sft.packing import pack_tokens
from luth_pipeline.core.sft.tokenization import LabelSettings, count_chat_tokens, template_has_generation_markers, tokenize_dataset
from luth_pipeline.core.storage import DatasetStore, atomic_directory

ASSET = "luth_sft"
PACKED_ASSET = "luth_sft_packed"


def sft_seed(profile: Profile) -> int:
    return profile.sft.seed if profile.sft.seed is not None else profile.seed


def worker_count(profile: Profile, configured: int = 0) -> int:
    return configured or profile.num_proc or os.cpu_count() or 1


def eval_sets_digest(profile: Profile) -> str:
    """Hash of the eval sets' identities and file bytes: an edited benchmark fixture, or a task
    added to the eval catalogue, re-runs decontamination."""
    digest = hashlib.sha256()
    for spec in decontamination_sets(profile.sft.decontamination, profile.eval):
        digest.update(spec.model_dump_json(exclude={"data_files"}).encode())
        for pattern in spec.data_files:
            for file in sorted(glob.glob(str(profile.resolve_path(pattern)))):
                digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:12]


def load_tokenizer(profile: Profile, model_name: str):
    from transformers import AutoTokenizer

    if model_name not in profile.base_models:
        raise KeyError(f"base model {model_name!r} is not in the profile's base_models ({sorted(profile.base_models)})")
    spec = profile.base_models[model_name]
    return AutoTokenizer.from_pretrained(resolve_base_model(model_name, spec, profile.work_path), revision=spec.revision)


HF_FOLDER = "hf_dataset"


def dataset_folder(store: DatasetStore, fetch: bool = False) -> Path:
    """The HF dataset folder, beside the flat tables (`<root>/luth_sft/_all/hf_dataset`); with
    `fetch`, refreshed from an object-store root first (readers), else where to write it."""
    return store.fetch_dir(ASSET, None, HF_FOLDER) if fetch else store.local_dir(ASSET, None, HF_FOLDER)


@dataclass
class SFTBuild:
    mixture: MixtureResult
    index: EvalIndex
    folder: Path
    split_files: dict[str, list[str]]
    token_stats: dict[str, TokenStats]
    tokenizer_name: str
    uris: dict[str, str] = field(default_factory=dict)


def decontamination_report(index: EvalIndex, removed: dict[str, int], names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "eval_set": names,
            "texts": [index.texts_per_set.get(n, 0) for n in names],
            "ngrams": [index.grams_per_set.get(n, 0) for n in names],
            "rows_removed": [removed.get(n, 0) for n in names],
            "ngram_size": [index.ngram] * len(names),
        },
        schema={"eval_set": pl.String, "texts": pl.Int64, "ngrams": pl.Int64, "rows_removed": pl.Int64, "ngram_size": pl.Int64},
    )


def build_luth_sft(profile: Profile, store: DatasetStore, log=print) -> SFTBuild:
    config = profile.sft
    seed = sft_seed(profile)
    loaded, missing = load_inputs(config.mixture, lambda asset, partition: store.read(asset, partition))
    for item in missing:
        log(f"mixture input not materialized, left out: {item}")
    eval_sets = decontamination_sets(config.decontamination, profile.eval)
    log(f"building the eval n-gram index from {len(eval_sets)} eval set(s)")
    index = build_index(eval_sets, config.decontamination, profile.resolve_path)
    result = build_mixture(loaded, index, seed, worker_count(profile), missing)
    log(f"mixture: {result.rows.height} rows kept, {result.rejects.height} rejected")

    stats_model = config.card.token_stats_model or next(iter(profile.base_models))
    tokenizer = load_tokenizer(profile, stats_model)
    counts = count_chat_tokens(tokenizer, result.rows["messages"].to_list(), config.packing.enable_thinking)
    rows = result.rows.with_columns(pl.Series("n_tokens", counts, dtype=pl.Int64))
    token_stats = {
        split: TokenStats.of(rows.filter(pl.col("split") == split)["n_tokens"].to_numpy()) for split in result.split_stats
    }
    split_sources = {
        split: ", ".join(sorted(set(rows.filter(pl.col("split") == split)["source"].to_list()))) for split in result.split_stats
    }

    folder = dataset_folder(store)
    with atomic_directory(folder) as tmp:
        split_files = write_shards(rows, tmp, config.card.max_rows_per_shard)
        card = render_card(
            pretty_name=config.card.pretty_name,
            license=config.card.license,
            language=config.card.language,
            split_files=split_files,
            split_rows={s: c["final"] for s, c in result.split_stats.items()},
            split_sources=split_sources,
            **card_provenance(profile),
            token_stats=token_stats,
            tokenizer_name=stats_model,
            step_counts=result.split_stats,
            removed_per_eval_set=result.removed_per_eval_set,
            ngram=config.decontamination.ngram,
            missing=result.missing,
            seed=seed,
        )
        (tmp / "README.md").write_text(card, encoding="utf-8")
    build = SFTBuild(result, index, folder, split_files, token_stats, stats_model)
    build.mixture.rows = rows
    build.uris["hf_dataset"] = store.publish_dir(ASSET, None, HF_FOLDER)
    build.uris["data"] = store.write(rows, ASSET, None, "data")
    build.uris["rejects"] = store.write(result.rejects, ASSET, None, "rejects")
    report = decontamination_report(index, result.removed_per_eval_set, [s.name for s in eval_sets])
    build.uris["decontamination"] = store.write(report, ASSET, None, "decontamination")
    return build


@dataclass
class PackedBuild:
    table: pl.DataFrame
    documents: pl.DataFrame  # one row per luth_sft row: n_tokens, n_trainable, status, detail
    capacity: int
    efficiency: float
    mask_source: str  # "chat template {% generation %} (verified)" or "independent (template has no markers)"
    tokenize_seconds: float
    uris: dict[str, str] = field(default_factory=dict)


def build_packed(profile: Profile, store: DatasetStore, model_name: str, log=print) -> PackedBuild:
    config = profile.sft.packing
    rows = store.read(ASSET, None, "data")
    tokenizer = load_tokenizer(profile, model_name)
    settings = LabelSettings(max_length=config.sequence_len, over_length=config.over_length, enable_thinking=config.enable_thinking)
    workers = worker_count(profile, config.num_proc)
    log(f"tokenizing {rows.height} conversations with {model_name}'s chat template ({workers} process(es))")
    started = time.perf_counter()
    tokenized = tokenize_dataset(tokenizer, rows["id"].to_list(), rows["messages"].to_list(), settings, config.batch_size, workers)
    tokenize_seconds = time.perf_counter() - started

    table = tokenized.data.table
    documents = pl.from_arrow(table.select(["id", "n_tokens", "n_trainable", "status", "detail"]))
    kept = pc.invert(pc.starts_with(table["status"], "dropped"))
    packable = table.filter(kept)
    lengths = packable["n_tokens"].to_numpy()
    input_ids = pc.list_flatten(packable["input_ids"]).to_numpy() if len(packable) else np.zeros(0, np.int64)
    labels = pc.list_flatten(packable["labels"]).to_numpy() if len(packable) else np.zeros(0, np.int64)
    packed = pack_tokens(lengths, input_ids, labels, packable["id"].to_pylist(), config.sequence_len, sft_seed(profile))
    frame = pl.from_arrow(packed)
    efficiency = float(lengths.sum()) / (frame.height * config.sequence_len) if frame.height else 1.0
    mask_source = (
        "chat template {% generation %} mask, verified against the independent computation"
        if template_has_generation_markers(tokenizer)
        else "independent computation (the chat template has no {% generation %} markers)"
    )
    build = PackedBuild(frame, documents, config.sequence_len, efficiency, mask_source, tokenize_seconds)
    build.uris["data"] = store.write(frame, PACKED_ASSET, model_name, "data")
    build.uris["documents"] = store.write(documents, PACKED_ASSET, model_name, "documents")
    dropped = documents.filter(pl.col("status").str.starts_with("dropped")).rename({"status": "reason"})
    build.uris["rejects"] = store.write(dropped, PACKED_ASSET, model_name, "rejects")
    return build

