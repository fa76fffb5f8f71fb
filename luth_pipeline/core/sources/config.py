"""Raw multilingual sources: where each comes from and how its rows map to chat messages."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from luth_pipeline.core.config.base import StrictModel


class SourceConfig(StrictModel):
    """One source of the French mixture, in its real Hugging Face schema.

    `hf_id`/`subset`/`split` name the real dataset; `data_files` (local JSONL/Parquet, used by the
    `local` profile) replaces the hub with shipped fixtures through the same `datasets.load_dataset`.
    """

    hf_id: str
    subset: str | None = None
    split: str = "train"
    data_files: list[str] | None = None
    streaming: bool = True
    max_rows: int | None = None
    license: str = "unknown"
    # How a row becomes `messages`: a chat column, or a prompt/response pair of columns.
    format: Literal["messages", "pair"] = "messages"
    messages_column: str = "messages"
    prompt_column: str | None = None
    response_column: str | None = None
    id_column: str | None = None
    # Keep only rows whose column equals a value (e.g. openhermes-fr `bad_entry: false`).
    where: dict[str, str | int | float | bool] = {}
    # Which turns language ID reads (system prompts are boilerplate and never read).
    language_id_on: Literal["all", "user", "assistant"] = "all"

    @model_validator(mode="after")
    def _pair_columns_named(self) -> "SourceConfig":
        if self.format == "pair" and not (self.prompt_column and self.response_column):
            raise ValueError("format `pair` needs both `prompt_column` and `response_column`")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError("`max_rows` must be ≥ 1 (leave it out for no cap)")
        return self

    @property
    def required_columns(self) -> list[str]:
        columns = [self.messages_column] if self.format == "messages" else [self.prompt_column, self.response_column]
        return [c for c in columns + [self.id_column, *self.where] if c]
