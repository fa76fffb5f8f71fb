"""raw_multilingual_dumps alone: real loader on the fixtures, rejects table, config errors surface."""

import dagster as dg
import pytest
import yaml

from luth_pipeline.core.config.profile import PROFILES_DIR
from luth_pipeline.resources import LuthConfig
from luth_pipeline_tests.stage_defs import assets, checks

[raw_multilingual_dumps] = assets("raw_multilingual_dumps")


def test_raw_asset_writes_rows_and_rejects(luth_resources):
    result = dg.materialize([raw_multilingual_dumps], resources=luth_resources, partition_key="openhermes_fr")
    meta = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    store = luth_resources["luth_storage"].store
    data = store.read("raw_multilingual_dumps", "openhermes_fr")
    rejects = store.read("raw_multilingual_dumps", "openhermes_fr", table="rejects")
    assert meta["dagster/row_count"] == data.height and meta["rows_rejected"] == rejects.height == 2
    assert meta["rows_read"] == data.height + rejects.height + meta["rows_dropped_by_where"]
    assert meta["rows_dropped_by_where"] > 0 and meta["source_columns"][:2] == ["prompt", "accepted_completion"]
    assert data.columns == ["id", "messages", "source", "source_id", "parent_asset", "parent_id"]
    assert set(rejects["reason"]) == {"missing_content"} and rejects["reason_detail"].str.contains("row ").all()


def test_wrong_column_in_the_profile_fails_naming_the_key(luth_resources, tmp_path):
    profile = yaml.safe_load((PROFILES_DIR / "local.yaml").read_text(encoding="utf-8"))
    profile["sources"]["aya_dataset"]["prompt_column"] = "input"
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    resources = {**luth_resources, "luth_config": LuthConfig(profile=str(path))}
    with pytest.raises(Exception, match=r"sources\.aya_dataset\.prompt_column"):
        dg.materialize([raw_multilingual_dumps], resources=resources, partition_key="aya_dataset")
    assert not resources["luth_storage"].store.exists("raw_multilingual_dumps", "aya_dataset")


def test_a_source_that_yields_nothing_fails_its_blocking_check(luth_resources, tmp_path):
    [raw_source_not_empty] = checks("raw_source_not_empty")

    ok = dg.materialize([raw_multilingual_dumps, raw_source_not_empty], resources=luth_resources, partition_key="aya_dataset")
    [passed] = ok.get_asset_check_evaluations()
    assert passed.passed and passed.metadata["rows"].value > 100
    profile = yaml.safe_load((PROFILES_DIR / "local.yaml").read_text(encoding="utf-8"))
    profile["sources"]["aya_dataset"]["where"] = {"language_code": "fr"}  # ISO 639-1, but aya uses 639-3 `fra`
    path = tmp_path / "nothing.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    resources = {**luth_resources, "luth_config": LuthConfig(profile=str(path))}
    result = dg.materialize([raw_multilingual_dumps, raw_source_not_empty], resources=resources, partition_key="aya_dataset",
                            raise_on_error=False)
    [failed] = result.get_asset_check_evaluations()
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert "aya_dataset yielded no usable row" in failed.description and "language_code" in failed.description
    assert "249 read, 249 dropped by `where`" in failed.description  # the numbers behind the failure
