"""Materialize luth_sft and luth_sft_packed with the local profile; the blocking checks run too."""

from __future__ import annotations

import dagster as dg
import datasets
import polars as pl

from luth_pipeline.core.sft.checks import decontamination_problems, documents_without_trainable_tokens
from luth_pipeline.core.storage import DatasetStore
from luth_pipeline_tests.core.sft.chat_tables import chat_table, eval_rows, write_french_samples
from luth_pipeline_tests.stage_defs import assets, checks

ALL = [*assets("luth_sft", "luth_sft_packed"),
       *checks("luth_sft_decontaminated", "luth_sft_schema", "luth_sft_packed_trainable", "luth_sft_packed_schema")]


def test_luth_sft_and_packed_materialize_with_passing_checks(luth_resources, tiny_model_path):
    store: DatasetStore = luth_resources["luth_storage"].store
    write_french_samples(store, limit=40)
    hellaswag = eval_rows("hellaswag_fr")[0]
    planted = [{"role": "user", "content": "Continue : " + hellaswag["ctx_a"]}, {"role": "assistant", "content": "D'accord."}]
    scholar = [[{"role": "user", "content": "Montrer que 2 + 2 = 4."}, {"role": "assistant", "content": "Par définition de l'addition, 2 + 2 = 4."}], planted]
    store.write(chat_table("scholar", "bac", scholar), "scholar_exercises")

    result = dg.materialize(ALL[:1] + ALL[2:4], resources=luth_resources)
    assert result.success
    meta = result.asset_materializations_for_node("luth_sft")[0].metadata
    rows = store.read("luth_sft")
    assert meta["dagster/row_count"].value == rows.height > 100
    assert "tulu_answers_fr → luth_tulu3_persona_instruct" in meta["missing_inputs"].value
    assert meta["decontaminated_rows"].value == 1
    rejects = store.read("luth_sft", table="rejects")
    assert rejects.filter(pl.col("reason") == "decontamination:hellaswag_fr")["parent_id"].to_list() == ["scholar/bac/1"]
    assert all(check.passed for check in result.get_asset_check_evaluations())

    # The HF folder opens unchanged with datasets.load_dataset, one split per source, provenance kept.
    folder = meta["hf_dataset"].value
    loaded = datasets.load_dataset(folder)
    assert set(loaded) == set(rows["split"].unique())
    scholar_split = loaded["luth_scholar"]
    assert scholar_split["parent_id"] == ["scholar/bac/0"] and scholar_split[0]["messages"][0]["role"] == "user"
    assert sum(len(split) for split in loaded.values()) == rows.height
    card = open(f"{folder}/README.md", encoding="utf-8").read()
    assert "license: odc-by" in card and "| hellaswag_fr | 1 |" in card and "luth_scholar" in card
    assert "source_datasets:" in card and "## Sources and models" in card

    packed = dg.materialize(ALL, resources=luth_resources, partition_key="tiny", selection=["luth_sft_packed"])
    assert packed.success
    pmeta = packed.asset_materializations_for_node("luth_sft_packed")[0].metadata
    table = store.read("luth_sft_packed", "tiny")
    assert pmeta["documents"].value == rows.height == int(table["seq_lens"].list.len().sum())
    assert 0 < pmeta["tokens_trainable"].value < pmeta["tokens_total"].value
    assert pmeta["packing_efficiency"].value > 0.9
    assert "verified" in pmeta["label_mask"].value and "data:image/png;base64," in pmeta["plot"].value
    assert table.schema["input_ids"] == pl.List(pl.Int32) and table.schema["doc_ids"] == pl.List(pl.String)
    evaluations = packed.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"luth_sft_packed_trainable", "luth_sft_packed_schema"}
    assert all(e.passed for e in evaluations)


def test_checks_catch_contamination_and_untrainable_documents(luth_resources, local_profile):
    store: DatasetStore = luth_resources["luth_storage"].store
    mmlu = eval_rows("mmlu_fr")[0]
    bad = chat_table("sft", "x", [[{"role": "user", "content": mmlu["Question"]}, {"role": "assistant", "content": "Canberra"}]])
    bad = bad.with_columns(pl.lit("luth_x").alias("split"))
    report = pl.DataFrame({"eval_set": ["mmlu_fr"], "texts": [1], "ngrams": [1], "rows_removed": [0], "ngram_size": [13]})
    problems, _ = decontamination_problems(local_profile, report, bad)
    assert any("was not part of the decontamination run" in p for p in problems)  # the 15 other sets
    assert any("overlaps mmlu_fr" in p for p in problems)
    packed = pl.DataFrame(
        {"labels": [[-100, -100, 7, 8]], "seq_lens": [[2, 2]], "doc_ids": [["a", "b"]]},
    )
    assert documents_without_trainable_tokens(packed) == ["a"]
