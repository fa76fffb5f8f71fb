"""The first test: the code location loads, and every asset carries group, kinds, description."""

import subprocess
import sys

import dagster as dg

from luth_pipeline.definitions import build_definitions, defs


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


def test_gpu_bound_assets_are_in_the_gpu_pool(tmp_path):
    """Training, merging, evaluation always; a Tulu step only when it generates with vLLM on this host."""
    profile = tmp_path / "offline_vllm.yaml"
    profile.write_text("extends: local\ntulu:\n  translate: {endpoint: vllm_offline, model: Qwen/Qwen3-32B}\n"
                       "llm:\n  endpoints:\n    vllm_offline: {backend: vllm}\n")

    def gpu_pool(definitions: dg.Definitions) -> set[str]:
        graph = definitions.resolve_asset_graph()
        return {k.to_user_string() for k in graph.get_all_asset_keys() if "gpu" in graph.get(k).pools}

    assert gpu_pool(build_definitions(profile)) == {"benchmark_scores", "finetuned_checkpoint", "merged_checkpoint", "tulu_prompts_fr"}
    assert gpu_pool(build_definitions("local")) == {"benchmark_scores", "finetuned_checkpoint", "merged_checkpoint"}


# Libraries a step imports when it runs; loading the code location (every run and every step
# process does) must not pay for them.
HEAVY_LIBRARIES = ["torch", "transformers", "datasets", "lighteval", "mergekit", "vllm", "pymupdf", "fitz",
                   "google.genai", "trl", "peft", "accelerate", "inspect_ai", "sklearn", "datasketch"]


def test_definitions_load_without_heavy_libraries():
    script = ("import json, sys\nfrom luth_pipeline.definitions import defs\ndefs().resolve_asset_graph()\n"
              f"print(json.dumps([m for m in {HEAVY_LIBRARIES!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", "imported at definitions load: " + out.stdout
