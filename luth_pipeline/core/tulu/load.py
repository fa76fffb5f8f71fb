"""`tulu_prompts`: the user prompts of the Tulu 3 persona sets, ids kept, duplicates removed."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl

from luth_pipeline.core.tulu.config import TuluSourceConfig

log = logging.getLogger(__name__)

PROMPT_SCHEMA = {
    "id": pl.String, "source": pl.String, "source_id": pl.String, "prompt": pl.String,
    "constraints": pl.List(pl.String), "parent_asset": pl.String, "parent_id": pl.String,
}


def _open(name: str, cfg: TuluSourceConfig, resolve_path: Callable[[str], Path]) -> Iterable[dict]:
    from datasets import load_dataset

    if cfg.data_files:
        files = [str(resolve_path(f)) for f in cfg.data_files]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise FileNotFoundError(f"tulu source {name!r}: data file(s) {missing} do not exist (check `tulu.sources.{name}.data_files`)")
        dataset = load_dataset("json", data_files=files, split=cfg.split, streaming=cfg.streaming)
    else:
        dataset = load_dataset(cfg.hf_id, split=cfg.split, streaming=cfg.streaming)
    return dataset.take(cfg.max_rows) if cfg.max_rows and cfg.streaming else (
        dataset.select(range(min(cfg.max_rows, len(dataset)))) if cfg.max_rows else dataset)


def _user_prompt(row: dict) -> str | None:
    """The `prompt` column, else the first user turn of `messages` (both exist in Tulu 3)."""
    if isinstance(row.get("prompt"), str) and row["prompt"].strip():
        return row["prompt"]
    for message in row.get("messages") or []:
        if message.get("role") == "user" and (message.get("content") or "").strip():
            return message["content"]
    return None


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def load_prompts(sources: dict[str, TuluSourceConfig], resolve_path: Callable[[str], Path]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(prompts, rejects): one row per distinct prompt; rejects say why a row was dropped."""
    if not sources:
        raise ValueError("`tulu.sources` in the profile is empty: add the persona datasets to translate")
    kept, rejects = [], []
    seen_ids: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    for name, cfg in sources.items():
        for position, row in enumerate(_open(name, cfg, resolve_path)):
            tulu_id = str(row.get("id") or "").strip()
            prompt = _user_prompt(row)
            where = f"{name}[{position}]"
            if not tulu_id:
                rejects.append({"id": None, "source_id": None, "source": cfg.source, "reason": "missing id", "where": where})
                continue
            row_id = f"tulu_prompts/{tulu_id}"
            if prompt is None:
                rejects.append({"id": row_id, "source_id": tulu_id, "source": cfg.source, "reason": "no user prompt", "where": where})
                continue
            if row_id in seen_ids:
                rejects.append({"id": row_id, "source_id": tulu_id, "source": cfg.source,
                                "reason": f"duplicate id (first in {seen_ids[row_id]})", "where": where})
                continue
            key = _normalized(prompt)
            if key in seen_text:
                rejects.append({"id": row_id, "source_id": tulu_id, "source": cfg.source,
                                "reason": f"duplicate prompt of {seen_text[key]}", "where": where})
                continue
            seen_ids[row_id] = where
            seen_text[key] = row_id
            kept.append({"id": row_id, "source": cfg.source, "source_id": tulu_id, "prompt": prompt,
                         "constraints": list(row.get("constraints") or []), "parent_asset": None, "parent_id": None})
    log.info("tulu_prompts: %d kept, %d rejected", len(kept), len(rejects))
    reject_schema = {"id": pl.String, "source_id": pl.String, "source": pl.String, "reason": pl.String, "where": pl.String}
    return pl.DataFrame(kept, schema=PROMPT_SCHEMA), pl.DataFrame(rejects, schema=reject_schema)
