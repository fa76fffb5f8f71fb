"""The publishing helper every asset body uses: what it writes and the metadata it returns."""

from __future__ import annotations

import polars as pl
import pytest

from luth_pipeline.core.storage import DatasetStore
from luth_pipeline.defs.publish import publish_table


def _chat(n: int) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"french/aya/{i}" for i in range(n)], "source": ["aya"] * n, "source_id": [str(i) for i in range(n)],
                         "parent_asset": ["raw_multilingual_dumps"] * n, "parent_id": [f"raw/aya/{i}" for i in range(n)]})


def test_tables_are_written_and_the_standard_metadata_returned(tmp_path):
    store = DatasetStore(str(tmp_path / "data"))
    data, rejects = _chat(3), _chat(2).with_columns(reason=pl.Series(["too_short", "not_french"]))
    meta = publish_table(store, "french_samples", data, rejects, partition="aya", tables={"files": pl.DataFrame({"f": ["a"]})},
                         upstream="raw_multilingual_dumps", rejects_preview=["id", "reason"])
    assert store.read("french_samples", "aya").equals(data) and store.read("french_samples", "aya", "rejects").equals(rejects)
    assert meta["dagster/row_count"] == 3 and meta["path"].value == store.uri("french_samples", "aya")
    assert meta["rejects_path"].value == store.uri("french_samples", "aya", "rejects")
    assert meta["files_path"].value == store.uri("french_samples", "aya", "files")
    assert [c.name for c in meta["dagster/column_schema"].columns] == data.columns
    assert "parent_id" in meta["dagster/column_lineage"].deps_by_column
    assert "| french/aya/0 | too_short |" in meta["rejects"].value and "not_french" in meta["rejects"].value


def test_a_rerun_without_rejects_leaves_no_stale_rejects(tmp_path):
    store = DatasetStore(str(tmp_path / "data"))
    reasons = pl.Series(["too_short"] * 2)
    publish_table(store, "french_samples", _chat(3), _chat(2).with_columns(reason=reasons), partition="aya")
    empty = _chat(0).with_columns(reason=pl.Series([], dtype=pl.String))
    meta = publish_table(store, "french_samples", _chat(5), empty, partition="aya", rejects_preview=["id", "reason"],
                         rejects_key="rejects_preview")
    assert store.read("french_samples", "aya", "rejects").height == 0 and meta["rejects_preview"].value == "no rejected rows"


def test_a_rejects_preview_without_a_rejects_table_is_refused_before_anything_is_written(tmp_path):
    store = DatasetStore(str(tmp_path / "data"))
    with pytest.raises(ValueError, match=r"publish_table\('tulu_prompts'\): rejects_preview names columns of `rejects`"):
        publish_table(store, "tulu_prompts", _chat(1), rejects_preview=["id"])
    assert not store.exists("tulu_prompts")


def test_a_card_is_shown_without_its_front_matter_and_a_card_without_one_whole():
    from luth_pipeline.defs.metadata import card_body

    card = "---\nlicense: apache-2.0\nbase_model: Qwen/Qwen3-0.6B\n---\n# Luth\nbody --- with a rule\n"
    assert card_body(card).value == "\n# Luth\nbody --- with a rule\n"
    assert card_body("# no header\n---\ntext").value == "# no header\n---\ntext"
