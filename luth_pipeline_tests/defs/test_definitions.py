"""The first test: the code location loads, and every asset carries group, kinds, description."""

import subprocess
import sys

from luth_pipeline.definitions import defs


def test_definitions_load_and_validate():
    loaded = defs()
    assert set(loaded.resources) >= {"luth_config", "luth_storage"}
    graph = loaded.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name and node.group_name != "default", f"{key} has no group_name"
        assert node.kinds, f"{key} has no kinds"
        assert node.description, f"{key} has no description"


def test_dagster_definitions_validate_cli():
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "luth_pipeline.definitions"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_dagster():
    from pathlib import Path

    core = Path(__file__).resolve().parents[2] / "luth_pipeline" / "core"
    offenders = [
        str(p) for p in core.rglob("*.py") if any(line.lstrip().startswith(("import dagster", "from dagster")) for line in p.read_text().splitlines())
    ]
    assert offenders == []
