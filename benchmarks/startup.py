"""How fast the code location starts and a one-asset run finishes, beside a bare `import dagster`.

Every Dagster process (the webserver's code server, each run, each step under a multiprocess
executor, `dagster asset list`) loads `luth_pipeline.definitions`, so its load time is paid
again and again. Measured in fresh interpreters, in one run, side by side:

  import dagster           the floor: Dagster's own import
  definitions load         import luth_pipeline.definitions + build + resolve the asset graph
  dagster asset list       the CLI listing the assets of the module
  one-asset materialize    `dagster asset materialize --select french_samples --partition aya_dataset`
                           (its upstream partition materialized first, untimed) on a fresh instance

Usage: .venv/bin/python benchmarks/startup.py [--repo PATH] [--repeat 3]
`--repo` measures another checkout of the project (e.g. an older commit unpacked with
`git archive`) with this venv. Prints wall and CPU seconds (median of the repeats; CPU includes
child processes) and the load average, which matters on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
LOAD_DEFINITIONS = ("from luth_pipeline.definitions import defs\n"
                    "defs().resolve_asset_graph()")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, cpu


def _env(repo: Path, home: Path, data: Path) -> dict[str, str]:
    profile = home / "profile.yaml"
    profile.write_text(f"extends: local\ndata_root: {data}\n")
    return {**os.environ, "PYTHONPATH": str(repo), "DAGSTER_HOME": str(home), "LUTH_PROFILE": str(profile),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "DAGSTER_DISABLE_TELEMETRY": "1"}


def _fresh_instance(repo: Path, scratch: Path, name: str) -> dict[str, str]:
    home = scratch / name
    home.mkdir()
    (home / "dagster.yaml").write_text((repo / "dagster.yaml").read_text())
    return _env(repo, home, scratch / f"{name}-data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    repo = args.repo.resolve()
    python, dagster = str(VENV_BIN / "python"), str(VENV_BIN / "dagster")
    materialize = [dagster, "asset", "materialize", "-m", "luth_pipeline.definitions", "--partition", "aya_dataset",
                   "--select"]
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="luth-startup-") as tmp:
        scratch = Path(tmp)
        env = _fresh_instance(repo, scratch, "list")
        steps = {
            "import dagster": lambda i: _timed([python, "-c", "import dagster"], env, repo),
            "definitions load": lambda i: _timed([python, "-c", LOAD_DEFINITIONS], env, repo),
            "dagster asset list": lambda i: _timed([dagster, "asset", "list", "-m", "luth_pipeline.definitions"], env, repo),
        }

        def one_asset(i: int) -> tuple[float, float]:
            run_env = _fresh_instance(repo, scratch, f"run{i}")
            _timed(materialize + ["raw_multilingual_dumps"], run_env, repo)  # the upstream partition, untimed
            return _timed(materialize + ["french_samples"], run_env, repo)

        steps["one-asset materialize (french_samples)"] = one_asset
        load_before = os.getloadavg()
        for name, step in steps.items():
            results[name] = [step(i) for i in range(args.repeat)]
        load_after = os.getloadavg()

    print(f"repo: {repo}   repeats: {args.repeat}   cores: {os.cpu_count()}")
    print(f"load average (1/5/15 min) before: {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}"
          f"   after: {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}")
    print(f"{'step':<40} {'wall s (median)':>16} {'cpu s (median)':>15} {'wall s (min)':>13}")
    for name, samples in results.items():
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        print(f"{name:<40} {statistics.median(walls):>16.2f} {statistics.median(cpus):>15.2f} {min(walls):>13.2f}")


if __name__ == "__main__":
    main()
