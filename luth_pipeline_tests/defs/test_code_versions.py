"""Code versions follow the stage's code and input files, not only its config: editing a stage's
module or one of its fixture files changes that stage's assets' versions (Dagster then reports
them and their descendants stale) and no other stage's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRINT_VERSIONS = ("import json\nfrom luth_pipeline.definitions import defs\ng = defs().resolve_asset_graph()\n"
                  "print(json.dumps({k.to_user_string(): g.get(k).code_version for k in g.get_all_asset_keys()}))")


def _copy_of_the_project(root: Path) -> Path:
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for part in ("luth_pipeline", "configs"):  # the demo data ships in the package: no test tree needed
        shutil.copytree(REPO / part, root / part, ignore=ignore)
    return root


def _code_versions(root: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(root), "LUTH_PROFILE": "local"}
    out = subprocess.run([sys.executable, "-c", PRINT_VERSIONS], cwd=root, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {key for key in before if before[key] != after[key]}


def test_editing_a_stages_code_or_data_changes_only_that_stages_versions(tmp_path):
    root = _copy_of_the_project(tmp_path / "project")
    original = _code_versions(root)
    assert all(v.startswith(("sources-", "french-", "tulu-", "scholar-", "sft-", "train-", "merge-", "eval-"))
               for v in original.values()), original

    merge_code = root / "luth_pipeline" / "core" / "merge" / "run.py"
    merge_code.write_text(merge_code.read_text() + "\n# an edit\n")
    edited_code = _code_versions(root)
    assert _changed(original, edited_code) == {"merged_checkpoint"}

    fixture = root / "luth_pipeline" / "demo_data" / "sources" / "aya_dataset.jsonl"
    fixture.write_text(fixture.read_text() + fixture.read_text().splitlines()[0] + "\n")
    edited_data = _code_versions(root)
    assert _changed(edited_code, edited_data) == {"raw_multilingual_dumps"}


def test_editing_a_shared_library_marks_the_stages_that_import_it(tmp_path):
    from luth_pipeline.defs.versions import used_libraries

    root = _copy_of_the_project(tmp_path / "project")
    original = _code_versions(root)
    langid = root / "luth_pipeline" / "core" / "text" / "langid.py"
    langid.write_text(langid.read_text() + "\n# an edit\n")
    changed = _changed(original, _code_versions(root))
    assert "french_samples" in changed and "raw_multilingual_dumps" in changed  # both validate chats with core/text
    assert not changed & {"finetuned_checkpoint", "merged_checkpoint", "benchmark_scores", "eval_report"}
    assert changed == {key for key, version in original.items() if "text" in used_libraries(version.split("-")[0])}
