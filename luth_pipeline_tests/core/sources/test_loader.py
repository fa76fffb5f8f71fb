"""The source loader on the shipped fixtures: real `datasets.load_dataset`, where/cap, rejects, errors."""

import json

import pytest

from luth_pipeline.core.config import ConfigError, load_profile
from luth_pipeline.core.sources import MalformedRow, load_source, to_messages
from luth_pipeline.core.sources.config import SourceConfig
from luth_pipeline_tests.conftest import FIXTURES

SOURCES = ["smoltalk2", "aya_dataset", "croissantllm", "openhermes_fr"]


@pytest.mark.parametrize("name", SOURCES)
def test_fixture_source_normalizes_to_chat_rows(local_profile, name):
    loaded = load_source(name, local_profile.sources[name], local_profile.resolve_path)
    assert len(loaded.rows) >= 200
    ids = [r["id"] for r in loaded.rows + loaded.rejects]
    assert len(ids) == len(set(ids)) and all(i.startswith(f"raw/{name}/") for i in ids)
    for row in loaded.rows:
        assert row["source"] == name and row["parent_asset"] is None and row["parent_id"] is None
        assert row["id"] == f"raw/{name}/{row['source_id']}"
        assert {m["role"] for m in row["messages"]} <= {"system", "user", "assistant"}
        assert all(isinstance(m["content"], str) for m in row["messages"])
    # every fixture plants two malformed rows: they are rejected with a reason naming source and row
    assert len(loaded.rejects) == 2
    for reject in loaded.rejects:
        assert reject["reason"] in {"unknown_role", "missing_content"}
        assert f"source {name!r} row {reject['source_id']}" in reject["reason_detail"]


def test_where_drops_rows_and_ids_keep_the_original_index(local_profile):
    cfg = local_profile.sources["openhermes_fr"]
    path = FIXTURES / "sources" / "openhermes_fr.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    loaded = load_source("openhermes_fr", cfg, local_profile.resolve_path)
    bad = [i for i, r in enumerate(raw) if r["bad_entry"]]
    assert loaded.dropped_by_where == len(bad) > 0
    kept_ids = {r["source_id"] for r in loaded.rows + loaded.rejects}
    assert kept_ids.isdisjoint(str(i) for i in bad)
    assert loaded.read == len(raw)


def test_max_rows_caps_a_streamed_source(local_profile):
    cfg = local_profile.sources["aya_dataset"].model_copy(update={"streaming": True, "max_rows": 25})
    loaded = load_source("aya_dataset", cfg, local_profile.resolve_path)
    assert len(loaded.rows) + len(loaded.rejects) == 25 and loaded.capped
    assert loaded.columns[:2] == ["inputs", "targets"]


def test_wrong_column_is_a_config_error_naming_the_key(local_profile):
    cfg = local_profile.sources["smoltalk2"].model_copy(update={"messages_column": "conversations"})
    with pytest.raises(ConfigError, match=r"sources\.smoltalk2\.messages_column.*'conversations'"):
        load_source("smoltalk2", cfg, local_profile.resolve_path)
    cfg = local_profile.sources["openhermes_fr"].model_copy(update={"where": {"is_bad": False}})
    with pytest.raises(ConfigError, match=r"sources\.openhermes_fr\.where\.is_bad"):
        load_source("openhermes_fr", cfg, local_profile.resolve_path)


def test_missing_data_file_names_the_key(local_profile):
    cfg = local_profile.sources["croissantllm"].model_copy(update={"data_files": ["nope/missing.jsonl"]})
    with pytest.raises(ConfigError, match=r"sources\.croissantllm\.data_files"):
        load_source("croissantllm", cfg, local_profile.resolve_path)


def test_typo_in_a_source_key_fails_at_profile_load(tmp_path):
    text = (FIXTURES.parents[1] / "configs" / "profiles" / "local.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "typo.yaml"
    bad.write_text(text.replace("messages_column: messages", "mesages_column: messages"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.smoltalk2\.mesages_column"):
        load_profile(str(bad))


def test_pair_format_needs_both_columns():
    with pytest.raises(ValueError, match="prompt_column"):
        SourceConfig(hf_id="x/y", format="pair", prompt_column="inputs")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"messages": [{"role": "user", "content": 3}]}, "non_string_content"),
        ({"messages": [{"role": "gpt", "content": "salut"}]}, "unknown_role"),
        ({"messages": [{"role": "user", "content": None}]}, "missing_content"),
        ({"messages": []}, "no_turns"), ({"messages": None}, "missing_messages"),
        ({"messages": ["salut"]}, "bad_turn"),
    ],
)
def test_malformed_rows_raise_with_a_reason(row, reason):
    with pytest.raises(MalformedRow) as info:
        to_messages(SourceConfig(hf_id="x/y"), row)
    assert info.value.reason == reason
