"""Merge stage: mergekit merges of a fine-tuned checkpoint with its base (linear, SLERP, schedules).

Modules: `recipes` (catalogue + YAML rendering), `preflight` (every check before a write),
`run` (mergekit `run_merge`, atomic output), `checkpoint_files` (headers, checksums, tokenizer),
`report` (per-layer schedule table/plot).
"""

# The profile module imports `merge.config`; loading the config package first means importing
# any merge module on its own (e.g. from a GPU script) does not enter that cycle half-way.
import luth_pipeline.core.config  # noqa: F401
