"""The eval worker Dagster runs through Pipes in another environment (.venv-serve: vLLM on GPU).

It needs only `dagster-pipes`, LightEval and this package's `core`: it evaluates one checkpoint,
writes `scores.parquet` / `details.parquet` / `settings.json` into the folder the orchestrator
named, and reports timings back; the orchestrator stores the tables atomically.

    python -m luth_pipeline.defs.eval.pipes_worker   (launched by PipesSubprocessClient)
"""

from __future__ import annotations

import json
from pathlib import Path


def main() -> None:
    from dagster_pipes import open_dagster_pipes

    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.eval.runner import evaluate_checkpoint

    with open_dagster_pipes() as pipes:
        extras = pipes.extras
        config = load_profile(extras["profile"]).eval
        if extras.get("backend"):
            config = config.model_copy(update={"backend": extras["backend"]})
        out = Path(extras["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        result = evaluate_checkpoint(extras["model_path"], config, extras["checkpoint"], progress=pipes.log.info)
        result.scores.write_parquet(out / "scores.parquet")
        result.details.write_parquet(out / "details.parquet")
        (out / "settings.json").write_text(json.dumps(result.settings, ensure_ascii=False))
        pipes.report_custom_message(
            {"seconds": result.seconds, "per_language_seconds": result.per_language_seconds, "out_dir": str(out)}
        )


if __name__ == "__main__":
    main()
