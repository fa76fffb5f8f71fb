"""The two SFT products, composed from the stage's parts (no Dagster here).

`build_luth_sft`: mixture → HF dataset folder (shards + card) and flat tables in the store.
`build_packed`: `luth_sft` rows → tokenized with one base model's template → packed bins.
"""

from __future__ import annotations

import glob
import hashlib
import mmap
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from luth_pipeline.core.config import Profile
from luth_pipeline.core.models import resolve_base_model
from luth_pipeline.core.sft.decontamination import EvalIndex, build_index, decontamination_sets
from luth_pipeline.core.sft.hf_dataset import TokenStats, card_provenance, render_card, write_shards
from luth_pipeline.core.sft.mixture import MixtureResult, build_mixture, load_inputs
from luth_pipeline.core.sft.packing import bins_table, pack_bins
from luth_pipeline.core.sft.published import hub_uri, load_published
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
TOKEN_COUNT_ROWS = 10_000  # conversations turned into Python objects at a time for the card's token counts
ROW_GROUP_ROWS = 10_000  # luth_sft's Parquet row groups: what a streaming reader decodes at a time


def dataset_folder(store: DatasetStore, fetch: bool = False) -> Path:
    """The HF dataset folder, beside the flat tables (`<root>/luth_sft/_all/hf_dataset`); with
    `fetch`, refreshed from an object-store root first (readers), else where to write it."""
    return store.fetch_dir(ASSET, None, HF_FOLDER) if fetch else store.local_dir(ASSET, None, HF_FOLDER)


def write_in_row_groups(store: DatasetStore, rows: pl.DataFrame, asset: str, table: str) -> str:
    """Write `rows` one ROW_GROUP_ROWS row group at a time: a streaming reader then decodes one row
    group at a time, and writing never encodes the whole table in memory (polars' `write_parquet` did:
    ≈ 5 KB per conversation)."""
    arrow = pl.CompatLevel.oldest()  # large_string/large_list: every Parquet writer and reader knows them
    with store.writer(asset, None, table, rows.slice(0, 0).to_arrow(compat_level=arrow).schema) as sink:
        for start in range(0, rows.height, ROW_GROUP_ROWS):
            sink.write_table(rows.slice(start, ROW_GROUP_ROWS).to_arrow(compat_level=arrow))
    return store.uri(asset, None, table)


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
    if config.source == "published":
        log(f"sft.source is published: reading {hub_uri(config.published)} splits {config.published.splits}")
        loaded, missing = load_published(config.published, profile.resolve_path)
    else:
        loaded, missing = load_inputs(config.mixture, store)
    for item in missing:
        log(f"mixture input not materialized, left out: {item}")
    eval_sets = decontamination_sets(config.decontamination, profile.eval)
    log(f"building the eval n-gram index from {len(eval_sets)} eval set(s)")
    index = build_index(eval_sets, config.decontamination, profile.resolve_path)
    result = build_mixture(loaded, index, seed, worker_count(profile), missing)
    del loaded  # the input frames: the mixture holds what it keeps
    log(f"mixture: {result.rows.height} rows kept, {result.rejects.height} rejected")

    stats_model = config.card.token_stats_model or next(iter(profile.base_models))
    tokenizer = load_tokenizer(profile, stats_model)
    # Counted slice by slice: the conversations never exist all at once as Python objects.
    counts = np.zeros(result.rows.height, dtype=np.int64)
    for start in range(0, result.rows.height, TOKEN_COUNT_ROWS):
        conversations = result.rows["messages"].slice(start, TOKEN_COUNT_ROWS).to_list()
        counts[start : start + len(conversations)] = count_chat_tokens(tokenizer, conversations, config.packing.enable_thinking)
    rows = result.rows.with_columns(pl.Series("n_tokens", counts, dtype=pl.Int64))
    result.rows = None  # the frame with `n_tokens` replaces it
    # Filter the small columns only: filtering `rows` would copy each split's conversations.
    columns = rows.select("split", "source", "n_tokens")
    token_stats = {
        split: TokenStats.of(columns.filter(pl.col("split") == split)["n_tokens"].to_numpy()) for split in result.split_stats
    }
    split_sources = {
        split: ", ".join(sorted(columns.filter(pl.col("split") == split)["source"].unique().to_list())) for split in result.split_stats
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
    build.uris["data"] = write_in_row_groups(store, rows, ASSET, "data")
    build.uris["rejects"] = store.write(result.rejects, ASSET, None, "rejects")
    report = decontamination_report(index, result.removed_per_eval_set, [s.name for s in eval_sets])
    build.uris["decontamination"] = store.write(report, ASSET, None, "decontamination")
    return build


@dataclass
class PackedBuild:
    documents: pl.DataFrame  # one row per luth_sft row: n_tokens, n_trainable, status, detail
    bins: int
    tokens: int  # tokens packed
    fill: np.ndarray  # tokens per bin, in table order
    preview: pl.DataFrame  # seq_lens/doc_ids of the first bins
    schema: pl.Schema
    capacity: int
    efficiency: float
    mask_source: str  # "chat template {% generation %} (verified)" or "independent (template has no markers)"
    tokenize_seconds: float
    uris: dict[str, str] = field(default_factory=dict)


# Tokens per written batch of bins (one Parquet row group): what the packer holds at a time.
PACKED_WRITE_TOKENS = 2 * 2**20
PACKED_ARROW_SCHEMA = pa.schema(
    [("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32())), ("position_ids", pa.list_(pa.int32())),
     ("seq_lens", pa.list_(pa.int32())), ("doc_ids", pa.list_(pa.string()))]
)


class MappedTokens:
    """The `input_ids`/`labels` list<int32> columns of the tokenized Arrow files, read in place
    through our own read-only memory maps: `gather(column, rows)` returns those rows' values
    concatenated, touching only their pages, and `release()` drops the touched pages from this
    process's resident set (`madvise(MADV_DONTNEED)`; they stay in the page cache and fault back in
    if read again). Bins gather documents from anywhere in the file, so without `release` the
    resident set would grow to the whole token file (≈ 2.7 GB at Luth-SFT's 340M tokens)."""

    def __init__(self, files: list[str], columns: tuple[str, ...] = ("input_ids", "labels")):
        self.maps = []
        chunks: dict[str, list[pa.Array]] = {column: [] for column in columns}
        for file in files:
            with open(file, "rb") as handle:
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            self.maps.append(mapped)
            table = pa.ipc.open_stream(pa.py_buffer(mapped)).read_all()  # zero-copy: buffers point into the map
            for column in columns:
                chunks[column] += table[column].chunks
        self.offsets = {c: [chunk.offsets.to_numpy() for chunk in chunks[c]] for c in columns}
        self.values = {c: [chunk.values.to_numpy() for chunk in chunks[c]] for c in columns}
        self.starts = np.cumsum([0] + [len(chunk) for chunk in chunks[columns[0]]])

    def gather(self, column: str, rows: np.ndarray) -> np.ndarray:
        chunks = np.searchsorted(self.starts, rows, side="right") - 1
        parts = []
        for chunk, local in zip(chunks.tolist(), (rows - self.starts[chunks]).tolist()):
            offsets = self.offsets[column][chunk]
            parts.append(self.values[column][chunk][offsets[local] : offsets[local + 1]])
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def release(self) -> None:
        for mapped in self.maps:
            if len(mapped):
                mapped.madvise(mmap.MADV_DONTNEED)


def _write_bins(sink, bins: list[list[int]], rows: np.ndarray, lengths: np.ndarray, ids: np.ndarray, tokens: MappedTokens):
    """Write the bins (indices into `rows`) in batches of about PACKED_WRITE_TOKENS tokens;
    returns the first batch's preview."""
    preview, start = None, 0
    bin_tokens = np.fromiter((lengths[members].sum() for members in bins), dtype=np.int64, count=len(bins))
    while start < len(bins):
        stop = start + max(1, int(np.searchsorted(np.cumsum(bin_tokens[start:]), PACKED_WRITE_TOKENS, side="right")))
        members = bins[start:stop]
        docs = np.fromiter((doc for bin_docs in members for doc in bin_docs), dtype=np.int64)
        table = bins_table(lengths[docs], tokens.gather("input_ids", rows[docs]), tokens.gather("labels", rows[docs]), ids[docs].tolist(), np.array([len(m) for m in members]))
        sink.write_table(table, row_group_size=len(members))
        tokens.release()
        if preview is None:
            preview = pl.from_arrow(table.select(["seq_lens", "doc_ids"]).slice(0, 5))
        start = stop
    return bin_tokens, preview if preview is not None else pl.DataFrame(schema={"seq_lens": pl.List(pl.Int32), "doc_ids": pl.List(pl.String)})


def build_packed(profile: Profile, store: DatasetStore, model_name: str, log=print) -> PackedBuild:
    """Tokenize and pack `luth_sft`, streaming: conversations are read in batches, tokenized to a
    memory-mapped Arrow file (scratch under the work dir), and bins are written batch by batch;
    memory holds per-document lengths and ids, not tokens (benchmarks/full_scale.py)."""
    config = profile.sft.packing
    tokenizer = load_tokenizer(profile, model_name)
    settings = LabelSettings(max_length=config.sequence_len, over_length=config.over_length, enable_thinking=config.enable_thinking)
    workers = worker_count(profile, config.num_proc)
    log(f"tokenizing {store.num_rows(ASSET, None, 'data')} conversations with {model_name}'s chat template ({workers} process(es))")
    profile.work_path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="luth_sft_packed_", dir=profile.work_path) as scratch:
        started = time.perf_counter()
        batches = store.iter_batches(ASSET, None, "data", columns=["id", "messages"], batch_size=config.batch_size)
        tokenized = tokenize_dataset(tokenizer, batches, settings, config.batch_size, workers, Path(scratch))
        tokenize_seconds = time.perf_counter() - started

        table = tokenized.data.table
        documents = pl.from_arrow(table.select(["id", "n_tokens", "n_trainable", "status", "detail"]))
        rows = np.flatnonzero(~documents["status"].str.starts_with("dropped").to_numpy())
        lengths = documents["n_tokens"].to_numpy()[rows]
        ids = documents["id"].to_numpy()[rows]
        bins = pack_bins(lengths, config.sequence_len, sft_seed(profile))
        with store.writer(PACKED_ASSET, model_name, "data", PACKED_ARROW_SCHEMA) as sink:
            tokens = MappedTokens([cache["filename"] for cache in tokenized.cache_files])
            if tokens.starts[-1] != table.num_rows:  # the files are the table, shard by shard, in order
                raise RuntimeError(f"tokenized cache files hold {tokens.starts[-1]} rows, the dataset {table.num_rows}")
            fill, preview = _write_bins(sink, bins, rows, lengths, ids, tokens)
        del table, tokenized, tokens
    efficiency = float(lengths.sum()) / (len(bins) * config.sequence_len) if bins else 1.0
    mask_source = (
        "chat template {% generation %} mask, verified against the independent computation"
        if template_has_generation_markers(tokenizer)
        else "independent computation (the chat template has no {% generation %} markers)"
    )
    schema = pl.from_arrow(PACKED_ARROW_SCHEMA.empty_table()).schema
    build = PackedBuild(documents, len(bins), int(lengths.sum()), fill, preview, schema, config.sequence_len, efficiency, mask_source, tokenize_seconds)
    build.uris["data"] = store.uri(PACKED_ASSET, model_name, "data")
    build.uris["documents"] = store.write(documents, PACKED_ASSET, model_name, "documents")
    dropped = documents.filter(pl.col("status").str.starts_with("dropped")).rename({"status": "reason"})
    build.uris["rejects"] = store.write(dropped, PACKED_ASSET, model_name, "rejects")
    return build
