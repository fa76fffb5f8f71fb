"""Upstream chat tables for SFT tests, built from the shipped source fixtures (chat-table contract)."""

from __future__ import annotations

import json

import polars as pl

from luth_pipeline.core.storage import DatasetStore
from luth_pipeline.demo_data import DEMO_DATA

SOURCES = DEMO_DATA / "sources"
EVAL = DEMO_DATA / "eval"


def chat_table(asset: str, source: str, conversations: list[list[dict]], start: int = 0) -> pl.DataFrame:
    n = len(conversations)
    return pl.DataFrame(
        {
            "id": [f"{asset}/{source}/{start + i}" for i in range(n)],
            "messages": conversations,
            "source": [source] * n,
            "source_id": [str(start + i) for i in range(n)],
            "parent_asset": ["raw_multilingual_dumps"] * n,
            "parent_id": [f"raw/{source}/{start + i}" for i in range(n)],
        },
        schema_overrides={"messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String}))},
    )


def fixture_conversations(source: str, limit: int | None = None) -> list[list[dict]]:
    rows = [json.loads(line) for line in (SOURCES / f"{source}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for row in rows[:limit]:
        if "messages" in row:
            out.append([{"role": m["role"], "content": m["content"]} for m in row["messages"]])
        else:
            out.append([{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["accepted_completion"]}])
    return out


def write_french_samples(store: DatasetStore, sources=("smoltalk2", "croissantllm", "openhermes_fr"), limit: int | None = 60) -> None:
    for source in sources:
        store.write(chat_table("french", source, fixture_conversations(source, limit)), "french_samples", source)


def eval_rows(task_dir: str) -> list[dict]:
    file = next((EVAL / task_dir).glob("*.jsonl"))
    return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
