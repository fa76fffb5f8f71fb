"""The package uses Dagster's public API only: no module under luth_pipeline/ reaches into
`dagster._…` (Dagster's private modules change without notice between releases)."""

from __future__ import annotations

import re
from pathlib import Path

import luth_pipeline

PACKAGE = Path(luth_pipeline.__file__).parent
# `from dagster._core… import`, `import dagster._config`, `dagster._check.…` attribute access
PRIVATE_DAGSTER = re.compile(r"\bdagster\._\w")


def test_the_pattern_catches_every_spelling_of_a_private_import():
    for line in ("from dagster._core.definitions.data_version import CachingStaleStatusResolver",
                 "import dagster._check as check", "    x = dagster._core.instance.DagsterInstance"):
        assert PRIVATE_DAGSTER.search(line), line
    for line in ("import dagster as dg", "from dagster import AssetKey", "import dagster_graphql", "dg.AssetKey"):
        assert not PRIVATE_DAGSTER.search(line), line


def test_no_private_dagster_import_under_luth_pipeline():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30 and any("import dagster as dg" in f.read_text(encoding="utf-8") for f in files)
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
                 for path in files
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if PRIVATE_DAGSTER.search(line)]
    assert offenders == [], "private Dagster modules used (use the public API):\n" + "\n".join(offenders)
