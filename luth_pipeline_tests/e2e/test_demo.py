"""`luth demo` (what `make demo` runs) end to end on a fresh SQLite instance: the whole graph
materializes, a second run finds everything up to date, and after a change to one stage's config
only that stage and its descendants run again."""

from __future__ import annotations

import re
import subprocess

import pytest

from luth_pipeline_tests.e2e.conftest import graph_of_current_defs, write_local_instance, write_profile
from luth_pipeline_tests.e2e.servers import REPO, VENV_BIN, dagster_env


def _demo(env: dict[str, str]) -> tuple[list[str], str]:
    proc = subprocess.run([str(VENV_BIN / "luth"), "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    launched = [line[2:] for line in proc.stdout.splitlines() if line.startswith("▶ ")]
    return launched, proc.stdout


def _ran_assets(launched: list[str]) -> set[str]:
    return {name.strip() for line in launched for name in re.sub(r" \[.*\]$", "", line).split(",")}


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_demo_materializes_everything_then_only_what_a_config_change_made_stale(tmp_path):
    home = write_local_instance(tmp_path / "dagster_home")
    profile = write_profile(tmp_path / "demo.yaml", str(tmp_path / "data"))
    env = dagster_env(home, profile)
    every_asset = {k.to_user_string() for k in graph_of_current_defs().get_all_asset_keys()}

    launched, out = _demo(env)
    assert _ran_assets(launched) == every_asset, out
    # the terminal stays short: one line per run, library output in a log file
    assert len(out.splitlines()) < 120 and "Greedy generation" not in out, out
    assert "Eval report" in out and (tmp_path / "data" / "eval_report" / "_all" / "report.md").exists()
    logs = list((home / "luth-demo-logs").glob("demo-*.log"))
    assert logs and logs[0].stat().st_size > 0

    launched, out = _demo(env)
    assert launched == [] and "0 asset run(s)" in out, out
    # nothing changed: answered from the fresh mark, without asking Dagster's GraphQL API again
    assert "Nothing changed since the last demo" in out, out

    # A change to the eval stage's config: its code version changes, nothing upstream re-runs.
    profile.write_text(profile.read_text() + "eval:\n  max_new_tokens: 12\n")
    launched, out = _demo(env)
    assert "Nothing changed" not in out, out
    assert _ran_assets(launched) == {"benchmark_scores", "eval_report"}, out
