"""Eval stage: LightEval French/English suites, scores per checkpoint, report.

Modules: `config` (EvalConfig), `datasets` (task catalogue and data location, also the
SFT stage's decontamination list), `prompts` + `metrics` + `tasks` (the LightEval custom task module),
`lighteval_compat` (offline registry, thinking off, vLLM API), `runner` (one checkpoint → scores
and per-sample details), `report` (comparison table and chart), `cli` (LightEval's CLI, offline).
"""

# The profile module imports `eval.config`; loading the config package first means importing
# an eval module on its own (e.g. `--custom-tasks .../tasks.py`) does not enter that cycle half-way.
import luth_pipeline.core.config  # noqa: F401
