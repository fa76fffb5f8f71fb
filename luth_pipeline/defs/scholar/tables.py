"""Column types of the Scholar tables, so an empty run still writes a well-typed table."""

from __future__ import annotations

import polars as pl

from luth_pipeline.core.text.chat import MESSAGES_DTYPE as MESSAGES

_EXAM = {"level": pl.String, "contest": pl.String, "subject": pl.String, "year": pl.Int64}

# `id` = the exam id, and extractions link to it (parent_asset/parent_id), so `luth lineage`
# walks an exercise back to the exam's two PDFs (location, sha256) and the pages it came from.
PDF_SCHEMA = {
    "id": pl.String, "exam_id": pl.String, **_EXAM,
    **{f"{role}_{k}": t for role in ("sujet", "corrige") for k, t in (
        ("location", pl.String), ("sha256", pl.String), ("uri", pl.String), ("bytes", pl.Int64),
        ("pages", pl.Int64), ("image_pages", pl.Int64))},
}

_PROVENANCE = {
    "sujet_sha256": pl.String, "sujet_page_start": pl.Int64, "sujet_page_end": pl.Int64,
    "corrige_sha256": pl.String, "corrige_page_start": pl.Int64, "corrige_page_end": pl.Int64,
}

EXTRACTION_SCHEMA = {
    "id": pl.String, "exam_id": pl.String, "path": pl.String, "exercise": pl.String, "part": pl.String,
    "number": pl.String, "question": pl.String, "context": pl.String,
    "answer": pl.String, "context_enriched": pl.Boolean, "source": pl.String, "source_id": pl.String,
    "parent_asset": pl.String, "parent_id": pl.String, **_EXAM, **_PROVENANCE,
}

EXERCISE_SCHEMA = {
    "id": pl.String, "messages": MESSAGES, "source": pl.String, "source_id": pl.String,
    "parent_asset": pl.String, "parent_id": pl.String, "subject": pl.String, "difficulty": pl.String,
    "level": pl.String, "contest": pl.String, "year": pl.Int64, **_PROVENANCE, "filters_passed": pl.List(pl.String),
}


# `path` is null when the whole exam is rejected (its step failed or nothing usable was left).
EXTRACTION_REJECT_SCHEMA = {"exam_id": pl.String, "step": pl.String, "path": pl.String, "question": pl.String,
                            "reason": pl.String}

EXERCISE_REJECT_SCHEMA = {"id": pl.String, "exam_id": pl.String, "path": pl.String, "subject": pl.String,
                          "question": pl.String, "answer": pl.String, "reason": pl.String}


def frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
