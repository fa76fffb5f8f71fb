"""Settings of the `sft` stage: the Luth-SFT mixture, decontamination, dataset card, packing."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from luth_pipeline.core.config.base import StrictModel

SPLIT_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class MixtureInput(StrictModel):
    """One split of Luth-SFT: rows of an upstream chat table (optionally some partitions of it).

    An input whose asset (or partition) has not been materialized is left out of the mixture and
    reported as missing in the metadata: the mixture takes whatever sources exist.
    """

    split: str  # the dataset split it becomes, e.g. `luth_smoltalk2` (upstream's names)
    asset: str  # upstream asset key, e.g. `french_samples`
    partitions: list[str] | None = None  # None: the unpartitioned table
    # Keep only rows whose column equals one of the values, e.g. {source: [tulu3_persona_math]}.
    where: dict[str, list[str]] = {}
    max_rows: int | None = Field(default=None, ge=1)  # cap after dedup/decontamination
    # Multiplier on the (capped) row count: < 1 subsamples, > 1 repeats rows (ids get `#k`).
    weight: float = Field(default=1.0, gt=0)

    @field_validator("split")
    @classmethod
    def _split_name(cls, value: str) -> str:
        if not SPLIT_NAME.match(value):
            raise ValueError(f"split name {value!r} must match {SPLIT_NAME.pattern} (it becomes a file name)")
        return value


class EvalSetSpec(StrictModel):
    """The texts of one evaluation set that the SFT data must not contain.

    Either `data_files` (JSON/JSONL/Parquet/CSV globs, relative to the repo root) or `hf_id`
    (+ `subset`, `split`), read with `datasets.load_dataset`. `text_fields` name the columns
    whose strings are benchmark content (questions and answers); a list column (choices) counts
    each element, a nested field is written `a.b`.
    """

    name: str
    data_files: list[str] = []
    hf_id: str | None = None
    subset: str | None = None
    revision: str | None = None
    split: str = "test"
    text_fields: list[str]

    @model_validator(mode="after")
    def _one_origin(self) -> "EvalSetSpec":
        if bool(self.data_files) == bool(self.hf_id):
            raise ValueError(f"eval set {self.name!r}: set exactly one of `data_files` or `hf_id`")
        if not self.text_fields:
            raise ValueError(f"eval set {self.name!r}: `text_fields` is empty")
        return self


class DecontaminationConfig(StrictModel):
    # Word n-grams on normalized text (NFKC, lower case, accents and punctuation removed).
    ngram: int = Field(default=13, ge=3)
    # Eval texts with fewer than `ngram` words are matched whole when they have at least this
    # many words (short questions); shorter ones (a choice such as "Paris") are ignored.
    min_words: int = Field(default=8, ge=1)
    # Every eval set of the eval stage's catalogue (`eval.tasks_file`, configs/eval/tasks.yaml: a
    # superset of the suites it runs), read where the eval stage reads it (fixture folders or the
    # Hub, per `eval.data_source`) with the catalogue's text fields. One source of truth: a task
    # added for evaluation is decontaminated against without touching this section.
    eval_catalogue: bool = True
    # Further sets to decontaminate against (benchmarks the eval stage does not run).
    eval_sets: list[EvalSetSpec] = []

    @model_validator(mode="after")
    def _unique_names(self) -> "DecontaminationConfig":
        names = [s.name for s in self.eval_sets]
        if len(names) != len(set(names)):
            raise ValueError(f"eval set names must be unique, got {names}")
        if self.min_words > self.ngram:
            raise ValueError(f"min_words ({self.min_words}) must be ≤ ngram ({self.ngram})")
        return self


class DatasetCardConfig(StrictModel):
    pretty_name: str = "Luth-SFT"
    license: str = "odc-by"
    language: list[str] = ["fr"]
    # Base model (a key of `base_models`) whose tokenizer counts tokens for the card;
    # None: the first base model of the profile.
    token_stats_model: str | None = None
    # Parquet rows per shard (HF convention: `data/<split>-00000-of-0000N.parquet`).
    max_rows_per_shard: int = Field(default=100_000, ge=1)


class HubConfig(StrictModel):
    push: bool = False
    repo_id: str | None = None  # e.g. kurakurai/luth-sft
    private: bool = True
    token_env: str = "HF_TOKEN"  # the token is read from this environment variable, never config

    @model_validator(mode="after")
    def _repo_when_pushing(self) -> "HubConfig":
        if self.push and not self.repo_id:
            raise ValueError("hub.push is true but hub.repo_id is not set")
        return self


class PackingConfig(StrictModel):
    sequence_len: int = Field(default=16384, ge=16)  # upstream's Axolotl sequence_len
    # Documents longer than `sequence_len`: dropped, or truncated to it (both counted).
    over_length: Literal["drop", "truncate"] = "drop"
    # Qwen3 `enable_thinking` passed to the chat template (None: the template's default).
    enable_thinking: bool | None = False
    # Rows per tokenization batch and worker processes (0: profile.num_proc).
    batch_size: int = Field(default=1000, ge=1)
    num_proc: int = Field(default=0, ge=0)


# Rows per split of the published Luth-SFT (kurakurai/luth-sft card; reference §2.1): 570,623 in all.
PUBLISHED_SPLIT_SIZES = {
    "luth_scholar": 30_282,
    "luth_croissantllm": 13_872,
    "luth_smoltalk2": 50_474,
    "luth_aya_dataset": 1_422,
    "luth_tulu3_persona_math": 47_440,
    "luth_openhermes": 406_516,
    "luth_tulu3_persona_instruct": 20_617,
}


class SplitSizeConfig(StrictModel):
    """The `luth_sft_split_sizes` check: each split's rows against an expected size.

    A split of the mixture that ends empty always fails (a source that yields nothing, a `where`
    that matches nothing, an input never materialized). Sizes are compared when `expected` is set:
    a split more than `tolerance` (relative) away fails, with the numbers. A profile whose sizes
    are not comparable sets `expected: {}` and says why in `no_sizes_reason`.
    """

    expected: dict[str, int] = Field(default_factory=lambda: dict(PUBLISHED_SPLIT_SIZES))
    tolerance: float = Field(default=0.25, gt=0)
    no_sizes_reason: str | None = None

    @model_validator(mode="after")
    def _sizes_or_reason(self) -> "SplitSizeConfig":
        if not self.expected and not self.no_sizes_reason:
            raise ValueError("`expected` is empty: give the expected split sizes, or say why not in `no_sizes_reason`")
        return self


class PublishedSFTConfig(StrictModel):
    """The published Luth-SFT (`sft.source: published`): its splits replace our mixture.

    Read with `datasets.load_dataset(hf_id, split=..., revision=...)`; `path` (a local folder in
    the hub repo's layout: Parquet shards + README `configs`) stands in for the hub id offline.
    """

    hf_id: str = "kurakurai/luth-sft"
    revision: str | None = None
    path: str | None = None
    # All 7 splits, or a chosen subset (e.g. without luth_smoltalk2, as upstream's LFM2-350M run).
    splits: list[str] = Field(default_factory=lambda: list(PUBLISHED_SPLIT_SIZES))
    messages_column: str = "messages"
    license: str = "odc-by"

    @field_validator("splits")
    @classmethod
    def _some_splits(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"`splits` must name at least one split, each once (got {value})")
        return value


class SFTConfig(StrictModel):
    # `mixture`: build Luth-SFT from this pipeline's stages; `published`: train on the published
    # Luth-SFT (`published`), through the same normalization, decontamination, checks and packing.
    source: Literal["mixture", "published"] = "mixture"
    published: PublishedSFTConfig = PublishedSFTConfig()
    mixture: list[MixtureInput] = []
    decontamination: DecontaminationConfig = DecontaminationConfig()
    card: DatasetCardConfig = DatasetCardConfig()
    hub: HubConfig = HubConfig()
    packing: PackingConfig = PackingConfig()
    split_sizes: SplitSizeConfig = SplitSizeConfig()
    # None: the profile's seed. Shuffles rows within each split and the packed bins.
    seed: int | None = None

    @model_validator(mode="after")
    def _unique_splits(self) -> "SFTConfig":
        seen: dict[tuple, str] = {}
        for item in self.mixture:
            key = (item.asset, tuple(item.partitions or ()), tuple(sorted((k, tuple(v)) for k, v in item.where.items())))
            if key in seen:
                raise ValueError(f"splits {seen[key]!r} and {item.split!r} read the same rows ({item.asset} {item.partitions or ''})")
            seen[key] = item.split
        return self
