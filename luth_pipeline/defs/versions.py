"""Code versions: what makes an asset stale in Dagster's eyes.

An asset's code version is `<stage>-<digest>` of the stage's own code (every module under
`core/<stage>/` and `defs/<stage>/`), its config section and the local files it reads (fixture
data, prompts, recipes, templates). Editing any of them marks that stage and its descendants
stale (`luth status`, `luth demo`, the UI); nothing else changes version. The shared libraries a
stage imports (core/text: chat schema, language ID, dedup; core/llm: statuses, retries) count as
its code; plumbing shared by all stages (core/storage.py, core/config, …) is left out: a change
there would mark everything stale.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from luth_pipeline.core.config import stage_fingerprint

PACKAGE = Path(__file__).resolve().parents[1]


# Shared libraries under core/ that decide what a stage's rows are (language ID, dedup, chat
# schema; LLM statuses and retries): a stage that imports one hashes its code too.
SHARED_LIBRARIES = ("text", "llm")


def _stage_files(stage: str) -> list[Path]:
    return [file for layer in ("core", "defs") for file in sorted((PACKAGE / layer / stage).rglob("*.py"))]


def used_libraries(stage: str) -> list[str]:
    """The shared libraries the stage's modules import (read from their source, not configured)."""
    sources = "\n".join(file.read_text(encoding="utf-8") for file in _stage_files(stage))
    return [lib for lib in SHARED_LIBRARIES if f"luth_pipeline.core.{lib}" in sources]


@cache
def stage_code_digest(stage: str) -> str:
    """Hash of the stage's Python sources (core/<stage>/ and defs/<stage>/, paths and bytes) and of
    the shared libraries it imports (core/text, core/llm)."""
    digest = hashlib.sha256()
    files = _stage_files(stage) + [f for lib in used_libraries(stage) for f in sorted((PACKAGE / "core" / lib).rglob("*.py"))]
    for file in files:
        digest.update(str(file.relative_to(PACKAGE)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:12]


def files_digest(paths: Iterable[str | Path]) -> str:
    """Hash of local input files (names and bytes); a folder counts its files, a glob its matches;
    URIs and hub ids, which are not local files, count by name only (through the config)."""
    digest = hashlib.sha256()
    for path in paths:
        matches = sorted(glob.glob(str(path))) or [str(path)]
        for match in map(Path, matches):
            files = sorted(p for p in match.rglob("*") if p.is_file()) if match.is_dir() else [match]
            for file in files:
                if file.is_file():
                    digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:12]


def code_version(stage: str, *sections, files: Iterable[str | Path] = ()) -> str:
    """`<stage>-<hash of the stage's code, these config sections and these files>`."""
    return f"{stage}-{stage_fingerprint(stage_code_digest(stage), *sections, files_digest(files))}"
