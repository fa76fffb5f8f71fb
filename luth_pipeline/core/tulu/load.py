"""`tulu_prompts`: the user prompts of the Tulu 3 persona sets, ids kept, duplicates removed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import polars as pl

from luth_pipeline.core.text.chat import chat_problem
from luth_pipeline.core.text.normalize import dedup_key
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


def user_prompt(row: dict) -> tuple[str | None, str | None]:
    """(the `prompt` column, else the first user turn of `messages` (both exist in Tulu 3), None) or
    (None, why not): malformed messages are named with the shared chat schema's reason."""
    if isinstance(row.get("prompt"), str) and row["prompt"].strip():
        return row["prompt"], None
    messages = row.get("messages")
    problem = chat_problem(messages, allow_empty=True, required_roles=("user",))
    if problem is not None:
        return None, f"no user prompt ({problem})"
    prompt = next((m["content"] for m in messages if m["role"] == "user" and m["content"].strip()), None)
    return (prompt, None) if prompt else (None, "no user prompt (every user turn is empty)")


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
            prompt, why_not = user_prompt(row)
            where = f"{name}[{position}]"
            if not tulu_id:
                rejects.append({"id": None, "source_id": None, "source": cfg.source, "reason": "missing id", "where": where})
                continue
            row_id = f"tulu_prompts/{tulu_id}"
            if prompt is None:
                rejects.append({"id": row_id, "source_id": tulu_id, "source": cfg.source, "reason": why_not, "where": where})
                continue
            if row_id in seen_ids:
                rejects.append({"id": row_id, "source_id": tulu_id, "source": cfg.source,
                                "reason": f"duplicate id (first in {seen_ids[row_id]})", "where": where})
                continue
            key = dedup_key(prompt)
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
