"""One loaded profile reaches every stage: `luth_pipeline.definitions` loads it once and hands it
to each stage factory; no module under defs/ reads or loads a profile on its own."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import PROFILES_DIR
from luth_pipeline.definitions import STAGE_FACTORIES, build_definitions

DEFS = Path(__file__).resolve().parents[2] / "luth_pipeline" / "defs"
# A Dagster definition made when its module is imported: a decorator at column 0, or a job / sensor /
# schedule / assets object assigned at module level.
MODULE_LEVEL_DEFINITION = re.compile(
    r"@(dg|dagster)\.\w+|\w+ = (dg|dagster)\.(define_asset_job|\w*(Sensor|Schedule|Job|Assets|AssetChecks)Definition)\(")


def _defs_lines(pattern: re.Pattern) -> list[str]:
    """`file:line: text` of every line under defs/ that `pattern` matches from its start."""
    return [f"{path.relative_to(DEFS)}:{number}: {line.strip()}"
            for path in sorted(DEFS.rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if pattern.match(line)]


def _code_versions(definitions: dg.Definitions) -> dict[str, str]:
    graph = definitions.resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()}


def test_no_stage_module_reads_a_profile_on_its_own():
    offenders = _defs_lines(re.compile(r".*(current_profile|load_profile\(|LUTH_PROFILE)"))
    # The Pipes worker is a process of its own (another environment): it loads the profile it was handed.
    assert [line for line in offenders if not line.startswith("eval/pipes_worker.py:")] == []


def test_every_stage_module_with_definitions_is_a_listed_factory():
    """A module that builds Dagster definitions is listed in STAGE_FACTORIES, or its definitions
    would silently be missing from the code location."""
    listed = {factory.__module__ for factory in STAGE_FACTORIES}
    builders = {".".join(path.relative_to(DEFS.parents[1]).with_suffix("").parts) for path in DEFS.rglob("*.py")
                if re.search(r"^def build\(profile", path.read_text(encoding="utf-8"), re.M)}
    assert builders == listed


def test_no_definition_is_decorated_at_module_level():
    """The code location holds what the factories build, nothing else: an asset, check, schedule or
    sensor decorated at module level would be missing from it without a word."""
    offenders = _defs_lines(MODULE_LEVEL_DEFINITION)
    assert offenders == [], "build these in the module's build(profile, partitions): " + "; ".join(offenders)


def test_the_same_profile_builds_the_same_definitions():
    first, second = build_definitions("local"), build_definitions("local")
    assert _code_versions(first) == _code_versions(second)
    assert all(_code_versions(first).values())
    checks = {key for c in first.asset_checks or [] for key in c.check_keys}
    assert checks == {key for c in second.asset_checks or [] for key in c.check_keys} and len(checks) >= 16


def test_the_profile_passed_decides_partitions_and_versions():
    """gpu vs local, in one process, without LUTH_PROFILE: the partitions and code versions follow the
    profile each build was given."""
    local, gpu = load_profile("local"), load_profile("gpu")
    local_defs, gpu_defs = build_definitions("local"), build_definitions(PROFILES_DIR / "gpu.yaml")
    local_graph, gpu_graph = local_defs.resolve_asset_graph(), gpu_defs.resolve_asset_graph()
    packed = dg.AssetKey("luth_sft_packed")
    assert local_graph.get(packed).partitions_def.get_partition_keys() == sorted(local.base_models)
    assert gpu_graph.get(packed).partitions_def.get_partition_keys() == sorted(gpu.base_models)
    assert sorted(gpu.base_models) != sorted(local.base_models)
    sources = dg.AssetKey("raw_multilingual_dumps")
    assert gpu_graph.get(sources).partitions_def.get_partition_keys() == sorted(gpu.sources)
    # the per-partition checks follow the same partitions as their asset
    [share] = [c for c in gpu_defs.asset_checks if any(k.name == "french_share" for k in c.check_keys)]
    assert next(iter(share.check_specs)).partitions_def.get_partition_keys() == sorted(gpu.sources)
    # a stage whose config differs gets another code version; the building order does not matter
    assert _code_versions(local_defs)["finetuned_checkpoint"] != _code_versions(gpu_defs)["finetuned_checkpoint"]
    assert _code_versions(build_definitions("local")) == _code_versions(local_defs)
