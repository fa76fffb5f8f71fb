"""Code versions: what makes an asset stale in Dagster's eyes.

An asset's code version is `<stage>-<digest>` of the stage's own code (every module under
`core/<stage>/` and `defs/<stage>/`), its config section and the local files it reads (fixture
data, prompts, recipes, templates). Editing any of them marks that stage and its descendants
stale (`luth status`, `luth demo`, the UI); nothing else changes version. Code shared by all
stages (core/chat.py, core/storage.py, …) is left out: a change there would mark everything stale.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from luth_pipeline.core.config import stage_fingerprint

PACKAGE = Path(__file__).resolve().parents[1]


@cache
def stage_code_digest(stage: str) -> str:
    """Hash of the stage's Python sources (core/<stage>/ and defs/<stage>/, paths and bytes)."""
    digest = hashlib.sha256()
    for layer in ("core", "defs"):
        for file in sorted((PACKAGE / layer / stage).rglob("*.py")):
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
