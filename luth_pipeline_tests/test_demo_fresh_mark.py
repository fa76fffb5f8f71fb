"""The demo's fresh mark (luth_pipeline.demo.fresh_mark) changes with everything Dagster's staleness
depends on, so a second demo may trust it instead of asking Dagster again."""

import dagster as dg

from luth_pipeline.demo import fresh_mark


def _defs(code_version: str, partitions: list[str]) -> dg.Definitions:
    @dg.asset(code_version=code_version, partitions_def=dg.StaticPartitionsDefinition(partitions))
    def rows() -> None:
        return None

    @dg.asset(deps=[rows], code_version="1")
    def report() -> None:
        return None

    return dg.Definitions(assets=[rows, report])


def _mark(instance, defs):
    graph = defs.resolve_asset_graph()
    return fresh_mark(instance, graph, sorted(graph.get_all_asset_keys()))


def test_the_mark_changes_with_a_run_a_code_version_and_the_partitions():
    with dg.DagsterInstance.ephemeral() as instance:
        defs = _defs("1", ["a", "b"])
        first = _mark(instance, defs)
        assert first == _mark(instance, defs)  # nothing happened: same mark
        assert first["rows"] == {"code_version": "1", "partitions": ["a", "b"], "latest_storage_id": None}

        # a run anywhere (the UI, the CLI) records a materialization
        assets = [a for a in defs.assets]
        assert dg.materialize(assets, selection=["rows"], partition_key="a", instance=instance).success
        after_run = _mark(instance, defs)
        assert after_run["rows"]["latest_storage_id"] is not None and after_run != first
        assert after_run["report"] == first["report"]

        assert _mark(instance, _defs("2", ["a", "b"]))["rows"]["code_version"] == "2"  # edited code or config
        assert _mark(instance, _defs("1", ["a", "b", "c"]))["rows"]["partitions"] == ["a", "b", "c"]  # a new partition
