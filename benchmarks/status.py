"""What `luth status` costs now that it asks Dagster's public GraphQL API, beside the private
in-process resolver it used before, on the same materialized instance, in one run:

  before (private resolver)   `luth status` of an older checkout (default 683e1c5, the last commit
                              that imported dagster._core's CachingStaleStatusResolver)
  GraphQL, dagster-graphql    `luth status`: the CLI starts a code server that loads the definitions
  GraphQL, webserver          `luth status --url`: a running dagster-webserver answers (its start
                              is not timed: `make ui` is already up when one uses --url)

All three must print the same report (checked). Wall and CPU seconds are medians of the repeats,
interleaved; CPU includes every descendant process, the code server that outlives the CLI too
(this process adopts orphans as a child subreaper and reaps them after each call).

Usage: .venv/bin/python benchmarks/status.py --dagster-home .dagster_home [--baseline REV] [--repeat 3]
The instance should hold a `luth demo` (else every status is "never materialized").
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PR_SET_CHILD_SUBREAPER = 36


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _adopted_children(keep: set[int]) -> list[int]:
    me, pids = str(os.getpid()), []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(line.split()[1] for line in status.read_text().splitlines() if line.startswith("PPid:"))
        except (OSError, StopIteration):
            continue
        if ppid == me and int(status.parent.name) not in keep:
            pids.append(int(status.parent.name))
    return pids


def _reap_orphans(keep: set[int]) -> None:
    """Wait for the processes adopted as subreaper (the code server winding down after the CLI)."""
    while adopted := _adopted_children(keep):
        for pid in adopted:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _timed(cmd: list[str], env: dict[str, str], keep: set[int]) -> tuple[float, float, str]:
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    _reap_orphans(keep)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, _children_cpu() - cpu0, proc.stdout


def _checkout(rev: str, into: Path) -> Path:
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "baseline", filter="data")
    return into / "baseline"


def _webserver(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([str(VENV_BIN / "dagster-webserver"), "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1",
                             "-p", str(port)], env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # up, and the code location loaded
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=b'{"query": "{ assetNodes { id } }"}',
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if json.loads(response.read()).get("data", {}).get("assetNodes"):
                    return proc
        except (OSError, ValueError):
            pass
        if proc.poll() is not None:
            raise SystemExit(f"dagster-webserver exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        time.sleep(1)
    proc.terminate()
    raise SystemExit(f"dagster-webserver did not load the code location in 600 s: {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dagster-home", type=Path, required=True)
    parser.add_argument("--baseline", default="683e1c5")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--port", type=int, default=3917)
    args = parser.parse_args()
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    env = {**os.environ, "DAGSTER_HOME": str(args.dagster_home.resolve()), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "DAGSTER_DISABLE_TELEMETRY": "1"}
    luth = str(VENV_BIN / "luth")
    with tempfile.TemporaryDirectory(prefix="luth-status-bench-") as tmp:
        baseline = _checkout(args.baseline, Path(tmp))
        web = _webserver({**env, "PYTHONPATH": str(REPO)}, args.port, Path(tmp) / "webserver.log")
        variants = {
            f"before: private resolver ({args.baseline})": ([luth, "status"], {**env, "PYTHONPATH": str(baseline)}),
            "GraphQL via dagster-graphql CLI": ([luth, "status"], {**env, "PYTHONPATH": str(REPO)}),
            "GraphQL via running webserver (--url)": ([luth, "status", "--url", f"http://127.0.0.1:{args.port}"],
                                                      {**env, "PYTHONPATH": str(REPO)}),
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        outputs: dict[str, str] = {}
        loads = [os.getloadavg()[0]]
        try:
            for _ in range(args.repeat):
                for name, (cmd, variant_env) in variants.items():
                    if web.poll() is not None:
                        raise SystemExit(f"dagster-webserver exited ({web.returncode}):\n{(Path(tmp) / 'webserver.log').read_text()[-3000:]}")
                    wall, cpu, out = _timed(cmd, variant_env, keep={web.pid})
                    times[name].append((wall, cpu))
                    outputs.setdefault(name, out)
                    loads.append(os.getloadavg()[0])
        finally:
            web.terminate()
            web.wait(timeout=60)
    if len(set(outputs.values())) != 1:
        raise SystemExit("the variants printed different reports:\n" + "\n---\n".join(f"{k}:\n{v}" for k, v in outputs.items()))

    base_wall = statistics.median(w for w, _ in times[next(iter(variants))])
    summary = next(line for line in next(iter(outputs.values())).splitlines() if "up to date" in line)
    print(f"luth status on {args.dagster_home}: {summary}")
    print(f"{'variant':<44} {'wall s':>7} {'CPU s':>7} {'wall vs before':>15}")
    for name, samples in times.items():
        wall, cpu = statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)
        print(f"{name:<44} {wall:>7.1f} {cpu:>7.1f} {wall / base_wall:>14.2f}x")
    print(f"load average (1 min) during the run: {min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} CPUs; "
          f"median of {args.repeat}, interleaved; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
