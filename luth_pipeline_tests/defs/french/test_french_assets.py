"""raw_multilingual_dumps → french_samples with the local profile via dg.materialize, checks included."""

import dagster as dg
import polars as pl
import pytest
import yaml

from luth_pipeline.core.config.profile import PROFILES_DIR
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline_tests.stage_defs import assets, checks

raw_multilingual_dumps, french_samples = assets("raw_multilingual_dumps", "french_samples")
CHECKS = checks("french_share", "no_empty_turns", "no_duplicate_ids")
SOURCES = ["smoltalk2", "aya_dataset", "croissantllm", "openhermes_fr"]


def _metadata(result, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


@pytest.mark.parametrize("source", SOURCES)
def test_raw_then_french_materialize_and_checks_pass(luth_resources, source):
    result = dg.materialize([raw_multilingual_dumps, french_samples, *CHECKS], resources=luth_resources, partition_key=source)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"french_share", "no_empty_turns", "no_duplicate_ids"}
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]

    store = luth_resources["luth_storage"].store
    raw = store.read("raw_multilingual_dumps", source)
    french = store.read("french_samples", source)
    rejects = store.read("french_samples", source, table="rejects")
    raw_meta, french_meta = _metadata(result, "raw_multilingual_dumps"), _metadata(result, "french_samples")

    assert raw_meta["dagster/row_count"] == raw.height >= 150  # aya: French rows only (`where`)
    assert raw_meta["rows_rejected"] == store.read("raw_multilingual_dumps", source, table="rejects").height == 2
    assert french_meta["dagster/row_count"] == french.height > 100
    assert french_meta["path"] == store.uri("french_samples", source)
    assert french.height + rejects.height == raw.height == french_meta["rows_in"]
    assert sum(french_meta["rejected_by_reason"].values()) == rejects.height
    assert french_meta["language_histogram"]["fr"] >= french.height
    assert "data:image/png;base64," in french_meta["language_plot"] and "near_dedup" in french_meta["filter_steps"]
    assert 0 < french_meta["dedup_rate"] < 0.2

    # lineage: every French row points at its raw row; every kept row passed every filter
    assert set(french["parent_id"]) <= set(raw["id"]) and set(french["parent_asset"]) == {"raw_multilingual_dumps"}
    assert french["id"].str.starts_with(f"french/{source}/").all()
    assert (french["french_probability"] >= 0.5).all() and (french["language"] == "fr").all()
    assert french["filters_passed"].list.len().min() == (6 if source == "openhermes_fr" else 5)  # + llm_judge
    assert rejects["reason"].null_count() == 0


def test_openhermes_goes_through_the_llm_judge_answered_from_the_fixture_verdicts(luth_resources):
    """Upstream filtering.py on the local profile: every row that passed the other filters is judged
    (shipped verdicts, no call to the tiny model); False rows are rejects `judge_false`."""
    result = dg.materialize([raw_multilingual_dumps, french_samples], resources=luth_resources,
                            partition_key="openhermes_fr")
    assert result.success
    store = luth_resources["luth_storage"].store
    french = store.read("french_samples", "openhermes_fr")
    rejects = store.read("french_samples", "openhermes_fr", table="rejects")
    meta = _metadata(result, "french_samples")
    judged = rejects.filter(pl.col("filters_passed").list.contains("near_dedup"))
    assert set(judged["reason"]) == {"judge_false"} and judged.height == 15
    assert set(judged["reason_detail"]) == {"False"}
    assert meta["rejected_by_reason"]["judge_false"] == 15
    assert meta["llm_judge"] == "local/tiny"
    assert meta["llm/judge/requests"] == french.height + 15 == 152
    assert meta["llm/judge/cache_hits"] == 152 and meta["llm/judge/calls_made"] == 0
    assert "llm_judge" in meta["filter_steps"] and french["filters_passed"].list.contains("llm_judge").all()
    # what the judge rejects: the code pairs and the technology questions (the fixture's verdicts)
    questions = [m[0]["content"] for m in judged["messages"].to_list()]
    assert any("Python" in q for q in questions) and "Comment fonctionne un réseau Wi-Fi ?" not in \
        [m[0]["content"] for m in french["messages"].to_list()]


def test_duplicate_raw_ids_fail_the_duplicate_id_check(luth_resources):
    store = luth_resources["luth_storage"].store
    dg.materialize([raw_multilingual_dumps], resources=luth_resources, partition_key="croissantllm")
    raw = store.read("raw_multilingual_dumps", "croissantllm")
    store.write(pl.concat([raw, raw.head(3)]), "raw_multilingual_dumps", "croissantllm")  # a buggy upstream
    result = dg.materialize([french_samples, *CHECKS], resources=luth_resources, partition_key="croissantllm",
                            selection=[french_samples.key], raise_on_error=False)
    by_name = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not by_name["no_duplicate_ids"].passed
    assert by_name["no_duplicate_ids"].metadata["duplicate_ids"].value == 3


def test_french_share_check_fails_when_the_language_filter_lets_everything_through(luth_resources, tmp_path):
    profile = yaml.safe_load((PROFILES_DIR / "local.yaml").read_text(encoding="utf-8"))
    profile.setdefault("french", {})["min_probability"] = 0.0
    path = tmp_path / "lenient.yaml"
    path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    resources = {**luth_resources, "luth_config": LuthConfig(profile=str(path))}
    result = dg.materialize([raw_multilingual_dumps, french_samples, *CHECKS], resources=resources,
                            partition_key="smoltalk2", raise_on_error=False)  # aya keeps French rows at the source
    by_name = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not by_name["french_share"].passed
    assert by_name["french_share"].metadata["french_share"].value < 0.95
