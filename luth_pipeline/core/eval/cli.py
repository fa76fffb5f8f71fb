"""LightEval's own command line, with the offline task registry (see lighteval_compat).

    python -m luth_pipeline.core.eval.cli accelerate "model_name=<path or hub id>" "mmlu_fr|0" \
        --custom-tasks luth_pipeline/core/eval/tasks.py
"""

from __future__ import annotations

import sys


def main() -> None:
    from lighteval.__main__ import app

    from luth_pipeline.core.eval.lighteval_compat import task_registry_without_builtins

    with task_registry_without_builtins():
        app()


if __name__ == "__main__":
    sys.exit(main())
