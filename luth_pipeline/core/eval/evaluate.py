"""Evaluate any checkpoint (local folder or HF id) on the profile's suites, outside Dagster.

    LUTH_PROFILE=gpu .venv-serve/bin/python -m luth_pipeline.core.eval.evaluate kurakurai/Luth-0.6B-Instruct

Writes scores.parquet / details.parquet / settings.json under --out and prints the headline table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def headline_lines(scores, references, model: str) -> list[str]:
    """One line per headline score; for a released model (or base) whose hub id has published rows,
    the published figure and the difference follow — the calibration check."""
    published = [r for r in references if r.hub_id == model]
    lines = []
    for row in scores.filter(scores["headline"]).sort("language", "task").iter_rows(named=True):
        stderr = "" if row["stderr"] is None else f" ± {100 * row['stderr']:.2f}"
        line = f"{row['language']}  {row['task']:<18} {row['metric']:<24} {100 * row['score']:6.2f}{stderr}  (runs={row['num_runs']})"
        for ref in published:
            value = ref.scores.get(row["reference"]) if ref.language == row["language"] else None
            if value is not None:
                line += f"  published {value:.2f} ({ref.source}{'' if ref.verified else ' †'}): {100 * row['score'] - value:+.2f}"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a local checkpoint folder or a Hugging Face model id")
    parser.add_argument("--name", help="label stored in the `checkpoint` column (default: the model)")
    parser.add_argument("--out", default="eval-results", help="output folder (default: eval-results/)")
    parser.add_argument("--backend", choices=["transformers", "vllm"], help="override eval.backend")
    parser.add_argument("--runs", type=int, help="override eval.num_runs")
    args = parser.parse_args(argv)

    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.eval.report import load_reference_scores
    from luth_pipeline.core.eval.runner import evaluate_checkpoint

    config = load_profile().eval
    updates = {k: v for k, v in {"backend": args.backend, "num_runs": args.runs}.items() if v is not None}
    config = config.model_copy(update=updates)
    result = evaluate_checkpoint(args.model, config, args.name or args.model, progress=print)
    out = Path(args.out) / (args.name or args.model).replace("/", "__")
    out.mkdir(parents=True, exist_ok=True)
    result.scores.write_parquet(out / "scores.parquet")
    result.details.write_parquet(out / "details.parquet")
    (out / "settings.json").write_text(json.dumps(result.settings, indent=2, ensure_ascii=False))
    for line in headline_lines(result.scores, load_reference_scores(config.reference_scores), args.model):
        print(line)
    print(f"{result.seconds:.0f}s → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
