"""The source loader on the shipped fixtures: real `datasets.load_dataset`, where/cap, rejects, errors."""

import json
import random

import pytest
import yaml

from luth_pipeline.core.config import ConfigError, load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.sources import MalformedRow, load_source, reservoir_sample, to_messages
from luth_pipeline.core.sources.config import SourceConfig
from luth_pipeline.demo_data import DEMO_DATA

SOURCES = ["smoltalk2", "aya_dataset", "croissantllm", "openhermes_fr"]


@pytest.mark.parametrize("name", SOURCES)
def test_fixture_source_normalizes_to_chat_rows(local_profile, name):
    loaded = load_source(name, local_profile.sources[name], local_profile.resolve_path)
    assert len(loaded.rows) >= 150  # aya keeps its French rows only (`where: {language_code: fra}`)
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
    path = DEMO_DATA / "sources" / "openhermes_fr.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    loaded = load_source("openhermes_fr", cfg, local_profile.resolve_path)
    bad = [i for i, r in enumerate(raw) if r["bad_entry"]]
    assert loaded.dropped_by_where == len(bad) > 0
    kept_ids = {r["source_id"] for r in loaded.rows + loaded.rejects}
    assert kept_ids.isdisjoint(str(i) for i in bad)
    assert loaded.read == len(raw)


def test_aya_keeps_french_rows_only(local_profile):
    raw = [json.loads(line) for line in (DEMO_DATA / "sources" / "aya_dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    loaded = load_source("aya_dataset", local_profile.sources["aya_dataset"], local_profile.resolve_path)
    french = {str(i) for i, r in enumerate(raw) if r["language_code"] == "fra"}
    assert {r["source_id"] for r in loaded.rows + loaded.rejects} == french
    assert loaded.dropped_by_where == len(raw) - len(french) > 0


def test_max_rows_samples_the_whole_stream_not_its_first_rows(local_profile):
    cfg = local_profile.sources["openhermes_fr"].model_copy(update={"streaming": True, "max_rows": 25, "seed": 3})
    loaded = load_source("openhermes_fr", cfg, local_profile.resolve_path)
    picked = [int(r["source_id"]) for r in loaded.rows + loaded.rejects]
    assert len(picked) == 25 and loaded.capped and loaded.read == 249  # the whole stream was read
    assert loaded.columns[:2] == ["prompt", "accepted_completion"]
    assert picked == sorted(picked) and max(picked) > 150  # stream order kept; not the first 25 rows
    again = load_source("openhermes_fr", cfg, local_profile.resolve_path)
    assert [r["id"] for r in again.rows] == [r["id"] for r in loaded.rows]  # seeded: same sample
    other = load_source("openhermes_fr", cfg.model_copy(update={"seed": 4}), local_profile.resolve_path)
    assert {r["id"] for r in other.rows} != {r["id"] for r in loaded.rows}


def test_reservoir_sample_is_uniform():
    """Each of 40 items is kept with probability 10/40 whatever its position in the stream."""
    n, k, trials = 40, 10, 4000
    counts = [0] * n
    for seed in range(trials):
        sample, seen = reservoir_sample(range(n), k, random.Random(seed))
        assert seen == n and len(set(sample)) == k
        for item in sample:
            counts[item] += 1
    expected = trials * k / n  # 1000; binomial sd ≈ 27
    assert all(abs(c - expected) < 6 * 27.4 for c in counts), counts
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < 80, chi2  # 39 degrees of freedom: p ≈ 1e-4 at 80
    first, last = sum(counts[:k]), sum(counts[-k:])
    assert abs(first - last) < 0.1 * first  # a head-of-stream cap would give first = trials * k, last = 0


def test_reservoir_sample_keeps_everything_below_the_cap():
    assert reservoir_sample(iter("abc"), 5, random.Random(0)) == (["a", "b", "c"], 3)


def test_several_splits_are_read_in_order_with_split_in_the_id(local_profile, tmp_path):
    lines = (DEMO_DATA / "sources" / "smoltalk2.jsonl").read_text(encoding="utf-8").splitlines()
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("\n".join(lines[30:50]) + "\n", encoding="utf-8")
    cfg = local_profile.sources["smoltalk2"].model_copy(
        update={"split": ["no_think", "think"], "data_files": {"no_think": [str(tmp_path / "a.jsonl")], "think": [str(tmp_path / "b.jsonl")]}})
    loaded = load_source("smoltalk2", cfg, local_profile.resolve_path)
    ids = [r["source_id"] for r in loaded.rows + loaded.rejects]
    assert loaded.read == 50 and len(ids) == 50 == len(set(ids))
    assert {i.split(":")[0] for i in ids} == {"no_think", "think"} and "think:19" in ids


@pytest.mark.parametrize(("source", "field", "named"), [("aya_dataset", "split", "sources.aya_dataset.split"),
                                                     ("croissantllm", "messages_column", "sources.croissantllm")])
def test_a_required_source_field_left_unset_fails_at_profile_load(tmp_path, source, field, named):
    raw = yaml.safe_load((REPO_ROOT / "configs" / "profiles" / "local.yaml").read_text(encoding="utf-8"))
    del raw["sources"][source][field]
    bad = tmp_path / "unset.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profile(str(bad))
    assert named in str(info.value) and field in str(info.value)


@pytest.mark.parametrize("name", ["gpu", "prod"])
def test_gpu_sources_name_every_split_and_column(name):
    sources = load_profile(name).sources
    # the no-think multilingual split only: the think split's <think> traces are not in luth_smoltalk2
    assert sources["smoltalk2"].splits == ["smoltalk_multilingual_8languages_lang_5_no_think"]
    assert sources["aya_dataset"].where == {"language_code": "fra"}
    assert sources["openhermes_fr"].where == {"bad_entry": False}
    for cfg in sources.values():
        assert cfg.data_files is None and cfg.required_columns


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
    text = (REPO_ROOT / "configs" / "profiles" / "local.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "typo.yaml"
    bad.write_text(text.replace("messages_column: messages", "mesages_column: messages"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sources\.smoltalk2\.mesages_column"):
        load_profile(str(bad))


def test_pair_format_needs_both_columns():
    with pytest.raises(ValueError, match="prompt_column"):
        SourceConfig(hf_id="x/y", split="train", format="pair", prompt_column="inputs")


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
        to_messages(SourceConfig(hf_id="x/y", split="train", format="messages", messages_column="messages"), row)
    assert info.value.reason == reason
