"""Merge stage: mergekit merges of a fine-tuned checkpoint with its base (linear, SLERP, schedules).

Modules: `recipes` (catalogue + YAML rendering), `preflight` (every check before a write),
`run` (engine choice, atomic output), `stream` (the `stream` engine: mergekit's plan run
tensor by tensor, bit-identical SLERP arithmetic without mergekit's extra conversions),
`checkpoint_files` (headers, checksums, tokenizer), `report` (per-layer schedule table/plot).
"""
