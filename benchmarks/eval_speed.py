"""Tiny-model evaluation per checkpoint (local profile), before vs after, side by side in one run.

    .venv/bin/python benchmarks/eval_speed.py [--before 683e1c5] [--checkpoints 3] [--repeat 2]

`benchmark_scores` on the `local` profile runs `core.eval.runner.evaluate_checkpoint`: LightEval +
transformers on CPU, the 12 fixture tasks of the fr + en suites (10 samples each). Each
version is measured in fresh interpreters (its own checkout on PYTHONPATH, this venv), which

  1. import what the evaluation imports (torch, transformers, datasets, LightEval's pipeline and
     transformers model, our task module): paid once per process,
  2. evaluate the tiny base model `--checkpoints` times, one `evaluate_checkpoint` call each (model
     load, datasets, generation and log-likelihoods, metrics, bootstrap, details): the first call
     and every further one are reported apart.

"before" is another commit of the project, unpacked with `git archive` and run the same way;
"after" is this checkout. Versions alternate (before, after, before, after, ...) so both see the
same load. Wall and CPU seconds (user + system of the whole process, every thread) per phase,
median over `--repeat` processes, and the load average: on a shared machine wall time follows
the load, CPU seconds much less so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = str(Path(sys.executable))

# Runs inside each measured interpreter, with the measured checkout first on sys.path.
PROBE = textwrap.dedent(
    """
    import json, sys, time
    marks, wall, cpu = {}, time.perf_counter(), time.process_time()

    def mark(name):
        global wall, cpu
        marks.setdefault(name, []).append((time.perf_counter() - wall, time.process_time() - cpu))
        wall, cpu = time.perf_counter(), time.process_time()

    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.eval.runner import evaluate_checkpoint

    config = load_profile("local").eval
    mark("start")
    import torch, transformers, datasets
    from lighteval.models.transformers.transformers_model import TransformersModelConfig
    from lighteval.pipeline import Pipeline
    import luth_pipeline.core.eval.tasks
    mark("import")
    for i in range(int(sys.argv[2])):
        result = evaluate_checkpoint(sys.argv[1], config, f"tiny.{i}", progress=lambda message: None)
        assert result.details.height == 120 and result.scores["headline"].sum() == 12, result.scores
        mark("first checkpoint" if i == 0 else "further checkpoint")
    print("PROBE " + json.dumps(marks))
    """
)


def _unpack(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _tiny_model() -> str:
    code = ("from luth_pipeline.core.config import load_profile\nfrom luth_pipeline.core.models import resolve_base_model\n"
            "p = load_profile('local'); name, spec = next(iter(p.base_models.items()))\n"
            "print(resolve_base_model(name, spec, p.work_path))")
    out = subprocess.run([PYTHON, "-c", code], env=_env(REPO), cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def _env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LUTH_PROFILE"}
    return {**env, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def _probe(repo: Path, model: str, checkpoints: int) -> dict[str, list[tuple[float, float]]]:
    proc = subprocess.run([PYTHON, "-c", PROBE, model, str(checkpoints)], env=_env(repo), cwd=repo,
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"evaluation in {repo} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("PROBE "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="683e1c5", help="commit to compare with (default: before the speed-up)")
    parser.add_argument("--checkpoints", type=int, default=3, help="checkpoints evaluated per process")
    parser.add_argument("--repeat", type=int, default=2, help="processes per version")
    args = parser.parse_args()
    model = _tiny_model()
    with tempfile.TemporaryDirectory(prefix="luth-eval-speed-") as tmp:
        repos = {f"before ({args.before})": _unpack(args.before, Path(tmp) / "before"), "after (this checkout)": REPO}
        samples: dict[str, list[dict]] = {name: [] for name in repos}
        load_before = os.getloadavg()
        for _ in range(args.repeat):
            for name, repo in repos.items():
                samples[name].append(_probe(repo, model, args.checkpoints))
        load_after = os.getloadavg()

    print(f"command: {' '.join([Path(PYTHON).name, *sys.argv])}")
    print(f"model: {model}   checkpoints per process: {args.checkpoints}   processes per version: {args.repeat}   "
          f"cores: {os.cpu_count()}")
    print(f"load average (1/5/15 min) at start: {'/'.join(f'{x:.2f}' for x in load_before)}"
          f"   at end: {'/'.join(f'{x:.2f}' for x in load_after)}")
    header = f"{'version':<24} {'phase':<40} {'wall s':>8} {'CPU s':>8}   (median; every process's CPU s)"
    print(header)
    phases = {"import": "import torch/transformers/LightEval", "first checkpoint": "first checkpoint (imports done)",
              "further checkpoint": "each further checkpoint"}
    for name, runs in samples.items():
        for key, label in phases.items():
            values = [sample for run in runs for sample in run.get(key, [])]
            walls, cpus = [w for w, _ in values], [c for _, c in values]
            print(f"{name:<24} {label:<40} {statistics.median(walls):>8.2f} {statistics.median(cpus):>8.2f}"
                  f"   ({', '.join(f'{c:.2f}' for c in cpus)})")
        firsts = [sum(run[k][0][i] for k in ("import", "first checkpoint")) for run in runs for i in (0, 1)]
        walls, cpus = firsts[0::2], firsts[1::2]
        print(f"{name:<24} {'first checkpoint in a fresh process':<40} {statistics.median(walls):>8.2f} "
              f"{statistics.median(cpus):>8.2f}   (import + first checkpoint)")


if __name__ == "__main__":
    main()
