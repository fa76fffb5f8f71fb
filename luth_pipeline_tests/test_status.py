"""`luth status` asks Dagster's GraphQL API (through the `dagster-graphql` CLI) for staleness. On a
small graph with every kind of answer (fresh, missing, a new code version, new upstream data,
per partition and not), its statuses and root causes are exactly those of Dagster's in-process
resolver, the one behind the UI's "Unsynced" badges, which this test alone imports; a running
webserver (`luth status --url`) gives the same answer."""

from __future__ import annotations

import importlib
import os
import sys
from datetime import datetime, timezone

import dagster as dg
import pytest

from luth_pipeline.status import stale_statuses
from luth_pipeline_tests.e2e.servers import VENV_BIN, Process, free_port, location_loaded, wait_for

PROBE = '''
import os
import dagster as dg

@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b", "c"]), code_version=os.environ["PROBE_VERSION"])
def up() -> None: ...

@dg.asset(code_version="1")
def extra() -> None: ...

@dg.asset(deps=[up, extra] if os.environ["PROBE_VERSION"] == "2" else [up], code_version="1")
def down() -> None: ...

@dg.asset(deps=[down], code_version="1")
def report() -> None: ...

defs = dg.Definitions(assets=[up, extra, down, report])
'''


def _dagster_resolver_statuses(instance, graph, keys):
    """What `luth status` printed when it called Dagster's resolver in-process (private API)."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver

    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=datetime.now(timezone.utc), last_event_id=None),
                          instance=instance, asset_graph=graph)
    resolver = CachingStaleStatusResolver(instance, graph, loading_context=view)

    def describe(cause) -> str:
        where = cause.key.asset_key.to_user_string() + (f"[{cause.key.partition_key}]" if cause.key.partition_key else "")
        dep = ""
        if cause.dependency is not None:
            dep = f" ({cause.dependency.asset_key.to_user_string()}" + (
                f"[{cause.dependency.partition_key}])" if cause.dependency.partition_key else ")")
        return f"{where}: {cause.reason}{dep}"

    out = []
    for key in keys:
        partitions_def = graph.get(key).partitions_def
        for partition in partitions_def.get_partition_keys() if partitions_def else [None]:
            status = resolver.get_status(key, partition).value
            causes = [describe(c) for c in resolver.get_stale_root_causes(key, partition)] if status == "STALE" else []
            out.append((key.to_user_string(), partition, status, causes))
    return out


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A code location `luth_status_probe` importable here and by the CLI's code server, and an
    instance at $DAGSTER_HOME; `load(version)` (re)imports it with `up` at that code version."""
    (tmp_path / "luth_status_probe.py").write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    def load(version: str):
        monkeypatch.setenv("PROBE_VERSION", version)
        if "luth_status_probe" in sys.modules:
            return importlib.reload(sys.modules["luth_status_probe"])
        return importlib.import_module("luth_status_probe")

    yield load
    sys.modules.pop("luth_status_probe", None)


def _stale_scenario(probe):
    """up[a] FRESH (re-run at its new code version), up[b] STALE (new code version), up[c] MISSING,
    extra FRESH, down STALE (new data upstream, a new dependency), report MISSING; with the graph,
    its keys and Dagster's in-process resolver's answer."""
    module = probe("1")
    with dg.DagsterInstance.get() as instance:
        for partition in ("a", "b"):  # c is never materialized
            assert dg.materialize([module.up], instance=instance, partition_key=partition).success
        assert dg.materialize([module.extra, module.down], instance=instance).success
        module = probe("2")  # up's code changes, down gains a dependency; only up[a] is materialized again
        assert dg.materialize([module.up], instance=instance, partition_key="a").success
        graph = module.defs.resolve_asset_graph()
        keys = [dg.AssetKey("up"), dg.AssetKey("extra"), dg.AssetKey("down"), dg.AssetKey("report")]
        return graph, keys, _dagster_resolver_statuses(instance, graph, keys)


def test_graphql_staleness_matches_dagsters_resolver_partition_by_partition(probe):
    graph, keys, expected = _stale_scenario(probe)
    got = [(s.key, s.partition, s.status, s.causes) for s in stale_statuses(graph, keys, module="luth_status_probe")]

    assert got == expected
    statuses = {(key, partition): (status, causes) for key, partition, status, causes in got}
    assert statuses[("up", "a")] == ("FRESH", [])
    assert statuses[("up", "b")] == ("STALE", ["up[b]: has a new code version"])
    assert statuses[("up", "c")] == ("MISSING", [])
    assert statuses[("extra", None)] == ("FRESH", [])
    assert statuses[("down", None)][0] == "STALE"
    assert sorted(statuses[("down", None)][1]) == ["down: has a new dependency on extra (extra)", "up[a]: has a new data version"]
    assert statuses[("report", None)] == ("MISSING", [])


def test_a_running_webserver_gives_the_same_answer(probe, tmp_path):
    graph, keys, expected = _stale_scenario(probe)
    port = free_port()
    webserver = Process([str(VENV_BIN / "dagster-webserver"), "-m", "luth_status_probe", "-h", "127.0.0.1", "-p", str(port)],
                        tmp_path / "webserver.log", {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "1"})
    try:
        wait_for(lambda: location_loaded(port), 300, "dagster-webserver to load luth_status_probe", interval=1, process=webserver)
        got = stale_statuses(graph, keys, url=f"http://127.0.0.1:{port}")
    finally:
        webserver.stop()
    assert [(s.key, s.partition, s.status, s.causes) for s in got] == expected
    with pytest.raises(RuntimeError, match="no Dagster webserver answers at http://127.0.0.1:"):
        stale_statuses(graph, keys, url=f"http://127.0.0.1:{port}")


def test_a_location_that_fails_to_load_is_reported_with_dagsters_error(probe, tmp_path, monkeypatch):
    module = probe("1")
    graph = module.defs.resolve_asset_graph()
    monkeypatch.delenv("PROBE_VERSION")  # the code server's import now fails: KeyError
    with pytest.raises(RuntimeError, match="(?s)luth_status_probe did not load.*KeyError: .PROBE_VERSION."):
        stale_statuses(graph, [dg.AssetKey("up")], module="luth_status_probe")
