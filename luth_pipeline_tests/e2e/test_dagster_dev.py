"""`make ui` as a user runs it: `dagster dev` on the requested port, the code location loaded under
its own name without the warnings a user cannot act on, and SIGTERM (what a terminal closing, a
process manager or `kill` sends) stops it with every child process gone."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from luth_pipeline_tests.e2e.conftest import write_local_instance, write_profile
from luth_pipeline_tests.e2e.servers import Process, dagster_env, free_port, graphql, location_loaded, wait_for


def _group_alive(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_make_ui_serves_the_port_and_stops_cleanly_on_sigterm(tmp_path):
    home = tmp_path / "dagster_home"
    write_local_instance(home)
    env = dagster_env(home, write_profile(tmp_path / "ui.yaml", str(tmp_path / "data")))
    port = free_port()
    log = tmp_path / "make_ui.log"
    make = Process(["make", "-s", "ui", f"PORT={port}", f"DAGSTER_HOME={home}"], log, env)
    pid = make.proc.pid  # leader of the process group make and dagster dev's children run in
    try:
        wait_for(lambda: location_loaded(port), 300, "make ui to load the code location", interval=1, process=make)
        names = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")
        assert [e["name"] for e in names["workspaceOrError"]["locationEntries"]] == ["luth_pipeline"]
        text = log.read_text(errors="replace")
        assert "does not match the name" not in text, text[-3000:]
        assert "Found a dagster instance configuration" not in text, text[-3000:]

        started = time.monotonic()
        os.kill(pid, signal.SIGTERM)  # to make alone, as a process manager would
        make.proc.wait(timeout=60)
        wait_for(lambda: not _group_alive(pid), 60, "every dagster dev process to exit", log=log)
        assert time.monotonic() - started < 60
    finally:
        make.stop(signal.SIGKILL)
