"""The product owns its demo data: nothing it ships reads the test tree, every data path the configs
name exists under `luth_pipeline/demo_data/`, every file there is used, and a wheel contains it."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.demo_data import DEMO_DATA

# What the product is made of: the package, its configs and how it is built, deployed and run.
PRODUCT = ["luth_pipeline", "configs", "docker", "deploy", "Makefile", "workspace.yaml", "dagster.yaml"]
# A comment may name the test that guards a file (`luth_pipeline_tests/…/test_x.py`): that is a
# pointer for a reader, not a dependency.
TEST_MODULE = re.compile(rb"luth_pipeline_tests/(?:[\w-]+/)*test_\w+\.py")
DEMO_PATH = re.compile(r"luth_pipeline/demo_data/[\w*-][\w./*-]*")  # a file, folder or glob in it, not the root
IGNORED_DIRS = {"__pycache__"}


def _product_files() -> list[Path]:
    files = []
    for part in PRODUCT:
        path = REPO_ROOT / part
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [f for f in candidates if not IGNORED_DIRS & set(f.parts)]
    return files


def _documents_generators(file: Path) -> bool:
    """demo_data's READMEs say which generator (a dev tool kept with the tests) wrote each file."""
    return file.suffix == ".md" and file.is_relative_to(DEMO_DATA)


def test_no_product_file_references_the_test_tree():
    files = _product_files()
    assert len(files) > 100, "the scan found too few files: PRODUCT paths are wrong"
    offenders = []
    for file in files:
        if _documents_generators(file):
            continue
        for number, line in enumerate(file.read_bytes().splitlines(), 1):
            if b"luth_pipeline_tests" in TEST_MODULE.sub(b"", line):
                offenders.append(f"{file.relative_to(REPO_ROOT)}:{number}: {line.decode(errors='replace').strip()}")
    assert not offenders, "the product reads its test tree; move the data to luth_pipeline/demo_data/:\n" + "\n".join(offenders)


def test_every_test_a_product_file_names_exists():
    """A comment pointing at the test that guards a file must point at a real one."""
    named = {(file, match.decode()) for file in _product_files() if not _documents_generators(file)
             for match in TEST_MODULE.findall(file.read_bytes())}
    assert named, "no product file names its guarding test: TEST_MODULE is wrong"
    missing = sorted(f"{file.relative_to(REPO_ROOT)}: {test}" for file, test in named if not (REPO_ROOT / test).is_file())
    assert not missing, "these files name a test that does not exist:\n" + "\n".join(missing)


def _referenced_demo_paths() -> set[str]:
    """Every `luth_pipeline/demo_data/...` path (file, folder or glob) the configs and the local
    profile's models name."""
    found = set()
    for file in sorted((REPO_ROOT / "configs").rglob("*.yaml")):
        found |= {m.rstrip(".") for m in DEMO_PATH.findall(file.read_text(encoding="utf-8"))}
    for spec in load_profile("local").base_models.values():
        if spec.build is not None:
            found |= set(spec.build.tokenizer_corpus)
    return found


def test_every_demo_path_in_the_configs_exists_and_every_demo_file_is_used():
    referenced = _referenced_demo_paths()
    for part in ("sources/", "tulu/", "french/", "scholar/pdfs/", "scholar/gemini_cache", "eval/", "luth_sft_published"):
        assert any(part in path for path in referenced), f"no config names luth_pipeline/demo_data/{part}"
    missing = [path for path in referenced if not glob.glob(str(REPO_ROOT / path))]
    assert not missing, f"configs name demo data that does not exist: {missing}"

    used = {Path(match) for path in referenced for match in glob.glob(str(REPO_ROOT / path))}
    data = [f for f in DEMO_DATA.rglob("*") if f.is_file() and f.suffix not in {".py", ".pyc"} and f != DEMO_DATA / "README.md"]
    unused = [str(f.relative_to(DEMO_DATA)) for f in data if not any(f == u or f.is_relative_to(u) for u in used)]
    assert not unused, f"demo data no config reads (delete it, or move test-only data to luth_pipeline_tests/fixtures): {unused}"


def test_a_wheel_contains_every_demo_data_file(tmp_path):
    """Package data as declared in pyproject.toml: built with setuptools from a copy of the package."""
    source = tmp_path / "src"
    shutil.copytree(REPO_ROOT / "luth_pipeline", source / "luth_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-c", f"from setuptools import build_meta; print(build_meta.build_wheel({str(tmp_path / 'dist')!r}))"],
                           cwd=source, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = tmp_path / "dist" / build.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(f.relative_to(REPO_ROOT)) for f in DEMO_DATA.rglob("*") if f.is_file() and "__pycache__" not in f.parts}
    assert len(expected) > 40
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
