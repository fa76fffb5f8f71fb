"""Raw multilingual sources: where each comes from and how its rows map to chat messages."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from luth_pipeline.core.config.base import StrictModel
from luth_pipeline.core.llm.config import StageLLMConfig


class SourceJudgeConfig(StageLLMConfig):
    """Upstream's LLM judge on a source's pairs (Luth src/data/filtering.py on openhermes-fr):
    the prompt template (`system` + `user` with `{{question}}` and `{{answer}}`) answers True
    (keep) or False (reject `judge_false`); a reply with no verdict is a reject with its reason."""

    prompt: str  # a prompt template file, e.g. configs/prompts/openhermes_judge.yaml


class SourceConfig(StrictModel):
    """One source of the French mixture, in its real Hugging Face schema.

    `hf_id`/`subset`/`split` name the real dataset; `data_files` (local JSONL/Parquet, used by the
    `local` profile) replaces the hub with shipped fixtures through the same `datasets.load_dataset`.
    `split` and the columns have no default: a dataset whose split is not `train` (smoltalk2's
    `SFT` subset has one split per origin) or whose column differs must fail at profile load,
    naming the key, not after an hour of streaming.
    """

    hf_id: str
    subset: str | None = None
    # One split, or several read one after the other (ids then carry the split name).
    split: str | list[str]
    revision: str | None = None
    # Local files standing in for the hub: a list (one split), or split → files.
    data_files: list[str] | dict[str, list[str]] | None = None
    streaming: bool = True
    # Uniform sample of this many rows (after `where`), drawn with a seeded reservoir over the
    # whole stream: the first rows of a hub dataset are often one origin or one language.
    max_rows: int | None = None
    seed: int = 0
    license: str = "unknown"
    # How a row becomes `messages`: a chat column, or a prompt/response pair of columns.
    format: Literal["messages", "pair"]
    messages_column: str | None = None
    prompt_column: str | None = None
    response_column: str | None = None
    id_column: str | None = None
    # Keep only rows whose column equals a value (e.g. openhermes-fr `bad_entry: false`).
    where: dict[str, str | int | float | bool] = {}
    # Which turns language ID reads (system prompts are boilerplate and never read).
    language_id_on: Literal["all", "user", "assistant"] = "all"
    # The LLM judge `french_samples` runs last, on rows that passed every other filter; unset = none.
    llm_judge: SourceJudgeConfig | None = None

    @model_validator(mode="after")
    def _columns_named(self) -> "SourceConfig":
        if self.format == "pair" and not (self.prompt_column and self.response_column):
            raise ValueError("format `pair` needs both `prompt_column` and `response_column`")
        if self.format == "messages" and not self.messages_column:
            raise ValueError("format `messages` needs `messages_column` (the dataset's chat column)")
        if isinstance(self.split, list) and (not self.split or len(set(self.split)) != len(self.split)):
            raise ValueError(f"`split` lists no split or one twice: {self.split}")
        if isinstance(self.data_files, dict) and set(self.data_files) != set(self.splits):
            raise ValueError(f"`data_files` names splits {sorted(self.data_files)} but `split` is {self.splits}")
        if isinstance(self.data_files, list) and len(self.splits) > 1:
            raise ValueError("several splits need `data_files` as a mapping split → files")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError("`max_rows` must be ≥ 1 (leave it out for no cap)")
        return self

    @property
    def splits(self) -> list[str]:
        return [self.split] if isinstance(self.split, str) else list(self.split)

    @property
    def required_columns(self) -> list[str]:
        columns = [self.messages_column] if self.format == "messages" else [self.prompt_column, self.response_column]
        return [c for c in columns + [self.id_column, *self.where] if c]
