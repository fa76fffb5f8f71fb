"""Packed training data for the train tests, made with the sft stage's own code.

Conversations come from the shipped source fixtures; tokenization + assistant-only labels are
`core.sft.tokenization`, packing is `core.sft.packing`: exactly what `luth_sft_packed` holds.
"""

from __future__ import annotations

import json

import polars as pl

import numpy as np

from luth_pipeline.core.sft.packing import pack_tokens
from luth_pipeline.core.sft.tokenization import LabelSettings, tokenize_conversations
from luth_pipeline.demo_data import DEMO_DATA

FIXTURES = DEMO_DATA / "sources"


def fixture_conversations(n: int, source: str = "smoltalk2") -> list[dict]:
    rows = [json.loads(line) for line in (FIXTURES / f"{source}.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    # Fixture rows that the french/sft filters reject (empty turns) are not training data.
    clean = [
        {"id": f"{source}/{i}", "messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
        for i, row in enumerate(rows)
        if row.get("messages") and all(isinstance(m.get("content"), str) and m["content"].strip() for m in row["messages"])
    ]
    return clean[:n]


def tokenized_docs(tokenizer, conversations: list[dict], max_length: int = 1024) -> list[dict]:
    """`{id, input_ids, labels}` per conversation (labels -100 outside assistant turns)."""
    out = tokenize_conversations(
        tokenizer,
        {"id": [c["id"] for c in conversations], "messages": [c["messages"] for c in conversations]},
        LabelSettings(max_length=max_length, over_length="truncate"),
    )
    return [{"id": i, "input_ids": ids, "labels": labels} for i, ids, labels in zip(out["id"], out["input_ids"], out["labels"]) if ids]


def pack(docs: list[dict], capacity: int, seed: int = 0) -> pl.DataFrame:
    """The luth_sft_packed table of `docs` (the sft stage's packer)."""
    table = pack_tokens(
        [len(d["input_ids"]) for d in docs],
        np.concatenate([np.asarray(d["input_ids"]) for d in docs]),
        np.concatenate([np.asarray(d["labels"]) for d in docs]),
        [d["id"] for d in docs],
        capacity,
        seed,
    )
    return pl.from_arrow(table)


def packed_table(tokenizer, n: int = 24, capacity: int = 512, seed: int = 0) -> pl.DataFrame:
    return pack(tokenized_docs(tokenizer, fixture_conversations(n), capacity), capacity, seed)
