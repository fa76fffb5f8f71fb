"""Luth-SFT as a Hugging Face dataset folder: Parquet shards per split + a dataset card.

Layout (what `datasets.load_dataset(folder)` and the Hub read unchanged):

    README.md                                   card; its YAML header declares the splits
    data/<split>-00000-of-0000N.parquet         columns: messages + provenance (id, source, …)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

HF_COLUMNS = ("messages", "id", "source", "source_id", "parent_asset", "parent_id")
# allenai/tulu-3-sft-personas-* dataset cards: ODC-BY-1.0 (the profile's Tulu sources carry no license key).
TULU_LICENSE = "odc-by"
SCHOLAR_ORIGIN = "original: French Bac and CPGE exam PDFs and their corrections (scholar manifest)"


def card_provenance(profile) -> dict:
    """What the card says about where each source's rows come from: the hub dataset, its license,
    and the models that generated or judged them (teacher, translator, judge, extractor).
    With `sft.source: published` the rows are the hub dataset's own: it is the only source."""
    published = profile.sft.published
    if profile.sft.source == "published":
        return {"source_licenses": {published.hf_id: published.license}, "source_hub_ids": {published.hf_id: published.hf_id}, "source_models": {}}
    hub = {name: source.hf_id for name, source in profile.sources.items()}
    licenses = {name: source.license for name, source in profile.sources.items() if getattr(source, "license", None)}
    models: dict[str, dict[str, str]] = {}
    tulu = profile.tulu
    for source in tulu.sources.values():
        hub[source.source] = source.hf_id
        licenses.setdefault(source.source, TULU_LICENSE)
        models[source.source] = {"translation": tulu.translate.model, "answers (teacher)": tulu.answer.model}
        if tulu.judge.enabled:
            models[source.source]["judge"] = tulu.judge.model
    scholar = profile.scholar
    models["scholar"] = {"extraction": scholar.extraction.model, "refinement": scholar.refinement.model}
    return {"source_licenses": licenses, "source_hub_ids": hub, "source_models": models}


def write_shards(rows: pl.DataFrame, folder: Path, max_rows_per_shard: int) -> dict[str, list[str]]:
    """Write each split's rows (in their order) as Parquet shards; returns split → relative paths."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {}
    columns = rows.select(HF_COLUMNS)
    for split in rows["split"].unique(maintain_order=True).to_list():
        # Gather one shard at a time: filtering the split first would copy all its conversations.
        positions = rows.select(pl.arg_where(pl.col("split") == split)).to_series()
        count = max(1, math.ceil(len(positions) / max_rows_per_shard))
        files[split] = []
        for shard in range(count):
            name = f"data/{split}-{shard:05d}-of-{count:05d}.parquet"
            columns[positions.slice(shard * max_rows_per_shard, max_rows_per_shard)].write_parquet(folder / name)
            files[split].append(name)
    return files


@dataclass
class TokenStats:
    total: int
    mean: float
    p50: int
    p95: int
    max: int

    @classmethod
    def of(cls, counts) -> "TokenStats":
        counts = np.asarray(counts, dtype=np.int64)
        if counts.size == 0:
            return cls(0, 0.0, 0, 0, 0)
        return cls(int(counts.sum()), float(counts.mean()), int(np.percentile(counts, 50)), int(np.percentile(counts, 95)), int(counts.max()))


def render_card(
    *,
    pretty_name: str,
    license: str,
    language: list[str],
    split_files: dict[str, list[str]],
    split_rows: dict[str, int],
    split_sources: dict[str, str],
    source_licenses: dict[str, str],
    token_stats: dict[str, TokenStats],
    tokenizer_name: str,
    step_counts: dict[str, dict[str, int]],
    removed_per_eval_set: dict[str, int],
    ngram: int,
    missing: list[str],
    seed: int,
    source_hub_ids: dict[str, str] | None = None,
    source_models: dict[str, dict[str, str]] | None = None,
) -> str:
    total_rows = sum(split_rows.values())
    source_hub_ids, source_models = source_hub_ids or {}, source_models or {}
    used = sorted({s.strip() for sources in split_sources.values() for s in sources.split(",") if s.strip()})
    header = {
        "pretty_name": pretty_name,
        "license": license,
        "language": language,
        "task_categories": ["text-generation"],
        "tags": ["sft", "chat", "french"],
        "size_categories": [_size_category(total_rows)],
        # the Hub's field: `extended|<id>` for each dataset rows were taken or derived from
        "source_datasets": sorted({f"extended|{source_hub_ids[s]}" for s in used if s in source_hub_ids})
        + (["original"] if any(s not in source_hub_ids for s in used) else []),
        "configs": [
            {"config_name": "default", "data_files": [{"split": split, "path": f"data/{split}-*.parquet"} for split in split_files]}
        ],
    }
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {pretty_name}",
        "",
        "French supervised fine-tuning mixture built by luth-pipeline, following the Luth recipe "
        "(kurakurai, arXiv 2510.05846): one split per source, OpenAI-style `messages` "
        "(`role`, `content`), and row provenance (`id`, `source`, `source_id`, `parent_asset`, `parent_id`).",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("<this folder or repo id>")',
        "```",
        "",
        "## Splits",
        "",
        f"Tokens counted with the `{tokenizer_name}` chat template.",
        "",
        "| split | sources | license | rows | tokens | mean | p50 | p95 | max |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for split in split_files:
        stats = token_stats.get(split, TokenStats.of([]))
        sources = split_sources.get(split, "")
        licenses = ", ".join(sorted({source_licenses.get(s.strip(), "see source") for s in sources.split(",") if s.strip()})) or "see source"
        lines.append(f"| {split} | {sources} | {licenses} | {split_rows.get(split, 0):,} | {stats.total:,} | {stats.mean:.0f} | {stats.p50} | {stats.p95} | {stats.max} |")
    all_tokens = sum(s.total for s in token_stats.values())
    lines += [f"| **total** | | | **{total_rows:,}** | **{all_tokens:,}** | | | | |", "", "## Sources and models", ""]
    lines += ["| source | from | license | generated / judged by |", "|---|---|---|---|"]
    for source in used:
        origin = f"`{source_hub_ids[source]}`" if source in source_hub_ids else (SCHOLAR_ORIGIN if source == "scholar" else "see source")
        models = "; ".join(f"{step}: `{model}`" for step, model in source_models.get(source, {}).items()) or "– (language ID and filters only)"
        lines.append(f"| {source} | {origin} | {source_licenses.get(source, 'see source')} | {models} |")
    lines += ["", "## Processing", ""]
    lines += [
        "Per split: rows read, then removed by chat normalization, exact deduplication across sources "
        f"(first occurrence kept), {ngram}-gram decontamination, and the size cap; rows shuffled with seed {seed}.",
        "",
        "| split | read | normalize | duplicate | decontamination | cap | final |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for split, counts in step_counts.items():
        lines.append(f"| {split} | {counts['loaded']:,} | {counts['normalize']:,} | {counts['duplicate']:,} | {counts['decontamination']:,} | {counts['cap']:,} | {counts['final']:,} |")
    lines += ["", "## Decontamination", "", f"Word {ngram}-grams on normalized text (lower case, no accents or punctuation) against:", ""]
    lines += ["| eval set | rows removed |", "|---|---:|"] + [f"| {name} | {count} |" for name, count in removed_per_eval_set.items()]
    if not removed_per_eval_set:
        lines.append("| (no eval set configured) | – |")
    if missing:
        lines += ["", "## Not included", "", "Configured inputs that were not materialized when this dataset was built:", ""]
        lines += [f"- {item}" for item in missing]
    lines += ["", "## License", "", f"{license}; each split also follows its source's license (table above).", ""]
    return "\n".join(lines)


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "1M<n<10M"


def push_to_hub(folder: Path, repo_id: str, token: str, private: bool) -> str:
    """Upload the folder as a dataset repo (created if absent); returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", delete_patterns=["data/*"], commit_message="luth-pipeline: update luth_sft")
    return str(info)
