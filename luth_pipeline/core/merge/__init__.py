"""Merge stage: mergekit merges of a fine-tuned checkpoint with its base (linear, SLERP, schedules).

Modules: `recipes` (catalogue + YAML rendering), `preflight` (every check before a write),
`run` (mergekit `run_merge`, atomic output), `checkpoint_files` (headers, checksums, tokenizer),
`report` (per-layer schedule table/plot).
"""
