"""Mixture: normalization, cross-source dedup, caps/weights, seeded stable selection and shuffle."""

from __future__ import annotations

import polars as pl
import pytest

from luth_pipeline.core.sft.config import MixtureInput, SFTConfig
from luth_pipeline.core.sft.decontamination import EvalIndex
from luth_pipeline.core.sft import mixture
from luth_pipeline.core.sft.mixture import LoadedInput, build_mixture, load_inputs
from luth_pipeline.core.sft.normalize import RejectedRow, normalize_messages
from luth_pipeline.core.storage import DatasetStore
from luth_pipeline_tests.core.sft.chat_tables import chat_table


def conv(question: str, answer: str = "Réponse.") -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


NO_EVAL = EvalIndex(ngram=13, min_words=8)


def test_normalization_canonicalizes_and_rejects_with_reasons():
    sharegpt = [{"from": "human", "value": "  Bonjour\r\n  toi  "}, {"from": "gpt", "value": "Salut\u00a0!"}]
    assert normalize_messages(sharegpt) == [{"role": "user", "content": "Bonjour\n toi"}, {"role": "assistant", "content": "Salut !"}]
    for bad, reason in [
        ([{"role": "user", "content": "q"}], "no_final_assistant_turn"),
        ([{"role": "assistant", "content": "a"}], "turn_0_is_assistant"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}], "empty_assistant_turn"),
        ([{"role": "tool", "content": "q"}], "unknown_role:tool"),
    ]:
        with pytest.raises(RejectedRow, match=reason):
            normalize_messages(bad)


def test_exact_duplicates_across_sources_keep_the_first_in_config_order():
    a = chat_table("french", "smoltalk2", [conv("Q1"), conv("Q2"), conv("Q2")])
    b = chat_table("tulu", "tulu3", [conv("  Q1 "), conv("Q3")])
    inputs = [LoadedInput(MixtureInput(split="a", asset="french_samples"), a), LoadedInput(MixtureInput(split="b", asset="tulu_answers_fr"), b)]
    result = build_mixture(inputs, NO_EVAL, seed=0)
    assert sorted(result.rows["parent_id"]) == ["french/smoltalk2/0", "french/smoltalk2/1", "tulu/tulu3/1"]
    dups = result.rejects.filter(pl.col("reason") == "duplicate")
    assert sorted(dups["parent_id"]) == ["french/smoltalk2/2", "tulu/tulu3/0"]
    assert result.split_stats["b"]["duplicate"] == 1 and result.split_stats["a"]["final"] == 2
    assert result.rows["id"].is_unique().all()


def test_caps_and_weights_are_seeded_and_stable_under_row_order():
    frame = chat_table("french", "s", [conv(f"Question {i}") for i in range(100)])
    capped = MixtureInput(split="s", asset="french_samples", max_rows=30)
    first = build_mixture([LoadedInput(capped, frame)], NO_EVAL, seed=7)
    reordered = build_mixture([LoadedInput(capped, frame.reverse())], NO_EVAL, seed=7)
    other_seed = build_mixture([LoadedInput(capped, frame)], NO_EVAL, seed=8)
    assert first.rows.height == 30 and first.split_stats["s"]["cap"] == 70
    assert first.rows["id"].to_list() == reordered.rows["id"].to_list()  # same rows, same shuffled order
    assert set(first.rows["id"]) != set(other_seed.rows["id"])
    upweighted = build_mixture([LoadedInput(MixtureInput(split="s", asset="x", max_rows=10, weight=2.5), frame)], NO_EVAL, seed=7)
    assert upweighted.rows.height == 25 and upweighted.rows["id"].is_unique().all()
    assert upweighted.rows["id"].str.contains("#2").sum() == 5


def test_missing_inputs_are_reported_and_where_filters(tmp_path):
    store = DatasetStore(str(tmp_path))
    store.write(chat_table("tulu", "tulu3_persona_math", [conv("M1")]).vstack(chat_table("tulu", "tulu3_persona_instruct", [conv("I1")], start=1)), "tulu_answers_fr")
    mixture = [
        MixtureInput(split="luth_tulu3_persona_math", asset="tulu_answers_fr", where={"source": ["tulu3_persona_math"]}),
        MixtureInput(split="luth_scholar", asset="scholar_exercises"),
        MixtureInput(split="luth_aya_dataset", asset="french_samples", partitions=["aya_dataset"]),
    ]
    loaded, missing = load_inputs(mixture, store)
    assert [pl.concat(item.slices())["source"].to_list() for item in loaded] == [["tulu3_persona_math"]]
    assert missing == ["scholar_exercises → luth_scholar", "french_samples[aya_dataset] → luth_aya_dataset"]
    _, missing = load_inputs([MixtureInput(split="x", asset="tulu_answers_fr", where={"source": ["tulu3_typo"]})], store)
    assert missing == ["tulu_answers_fr → x: `where` {'source': ['tulu3_typo']} matched 0 of 2 rows"]


def test_inputs_read_in_slices_give_the_same_mixture_as_whole_frames(tmp_path, monkeypatch):
    """`load_inputs` reads the store lazily, a few rows at a time and only the mixture's columns: the
    rows, their order (partitions in config order) and the rejects equal those of whole frames."""
    monkeypatch.setattr(mixture, "SLICE_ROWS", 3)
    store = DatasetStore(str(tmp_path))
    a = chat_table("french", "aya_dataset", [conv(f"Question {i} ?") for i in range(7)]).with_columns(extra=pl.lit("unused"))
    b = chat_table("french", "smoltalk2", [conv("Question 2 ?"), conv("Autre ?"), [{"role": "user", "content": "q"}]], start=7)
    store.write(a, "french_samples", "aya_dataset")
    store.write(b, "french_samples", "smoltalk2")
    spec = MixtureInput(split="s", asset="french_samples", partitions=["aya_dataset", "smoltalk2"], max_rows=8)
    loaded, missing = load_inputs([spec], store)
    assert missing == []
    slices = list(loaded[0].slices())
    assert [s.height for s in slices] == [3, 3, 1, 3] and slices[0].columns == ["id", "messages", "source", "source_id"]
    whole = pl.concat([a.drop("extra"), b]).select("id", "messages", "source", "source_id")
    streamed = build_mixture([LoadedInput(spec, iter(slices))], NO_EVAL, seed=3)
    expected = build_mixture([LoadedInput(spec, whole)], NO_EVAL, seed=3)
    assert streamed.rows.equals(expected.rows) and streamed.rejects.equals(expected.rejects)
    assert streamed.split_stats == expected.split_stats == {"s": {"loaded": 10, "normalize": 1, "duplicate": 1, "decontamination": 0, "cap": 0, "final": 8}}


def test_malformed_upstream_table_names_asset_and_columns(tmp_path):
    store = DatasetStore(str(tmp_path))
    store.write(pl.DataFrame({"id": ["x"], "text": ["hello"]}), "scholar_exercises")
    with pytest.raises(ValueError, match=r"scholar_exercises: chat table lacks columns \['messages', 'source', 'source_id'\]"):
        load_inputs([MixtureInput(split="luth_scholar", asset="scholar_exercises")], store)


def test_config_rejects_bad_split_names_and_repeated_inputs():
    with pytest.raises(ValueError, match="split name"):
        MixtureInput(split="luth scholar", asset="scholar_exercises")
    with pytest.raises(ValueError, match="read the same rows"):
        SFTConfig(mixture=[MixtureInput(split="a", asset="x"), MixtureInput(split="b", asset="x")])


def test_gpu_profile_mirrors_upstream_split_sizes():
    from luth_pipeline.core.config import load_profile

    sizes = {item.split: item.max_rows for item in load_profile("gpu").sft.mixture}
    assert sizes == {
        "luth_scholar": 30_282,
        "luth_croissantllm": 13_872,
        "luth_smoltalk2": 50_474,
        "luth_aya_dataset": 1_422,
        "luth_tulu3_persona_math": 47_440,
        "luth_openhermes": 406_516,
        "luth_tulu3_persona_instruct": 20_617,
    }
    assert sum(sizes.values()) == 570_623
