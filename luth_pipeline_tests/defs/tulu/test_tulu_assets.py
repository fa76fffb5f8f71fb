"""The three Tulu assets materialize offline with the local profile: real French rows from the
shipped fixture cache, cache misses answered by the tiny transformers model, lineage kept."""

import dagster as dg
import polars as pl

from luth_pipeline.core.config import load_profile
from luth_pipeline.defs.tulu import checks as tulu_checks
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource
from luth_pipeline_tests.stage_defs import assets, checks

tulu_prompts, tulu_prompts_fr, tulu_answers_fr = assets("tulu_prompts", "tulu_prompts_fr", "tulu_answers_fr")


def _resources(tmp_path):
    # The local profile with a fresh SQLite cache (the tiny model stays in the shared work dir).
    profile = load_profile("local")
    path = tmp_path / "profile.yaml"
    import yaml

    raw = yaml.safe_load(open(profile.resolve_path("configs/profiles/local.yaml"), encoding="utf-8"))
    raw["llm"]["cache_dir"] = str(tmp_path / "llm_cache")
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return {"luth_config": LuthConfig(profile=str(path)), "luth_storage": LuthStorage(root=str(tmp_path / "data")),
            "llm": LLMClientResource()}


def _metadata(result, key):
    mats = [e.materialization for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return {k: v.value if hasattr(v, "value") else v for k, v in mats[0].metadata.items()}


def test_tulu_assets_materialize_with_realistic_french_rows(tmp_path, tiny_model_path):
    resources = _resources(tmp_path)
    tulu_checks_defs = checks("tulu_chat_shape", "tulu_lineage", "tulu_french")
    result = dg.materialize([tulu_prompts, tulu_prompts_fr, tulu_answers_fr, *tulu_checks_defs], resources=resources)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert sorted(e.check_name for e in evaluations) == ["tulu_chat_shape", "tulu_french", "tulu_lineage"]
    assert all(e.passed for e in evaluations)
    store = resources["luth_storage"].store
    prompts = store.read("tulu_prompts")
    answers = store.read("tulu_answers_fr")
    assert prompts.height == 44 and prompts["id"].n_unique() == 44  # 45 fixture rows, one duplicate
    assert store.read("tulu_prompts", table="rejects")["reason"].str.starts_with("duplicate prompt").all()

    # chat table contract + lineage to single Tulu rows
    assert {"id", "messages", "source", "source_id", "parent_asset", "parent_id"} <= set(answers.columns)
    assert set(answers["source"]) == {"tulu3_persona_instruct", "tulu3_persona_math"}
    fr = store.read("tulu_prompts_fr")
    row = answers.row(0, named=True)
    parent = fr.filter(pl.col("id") == row["parent_id"]).row(0, named=True)
    assert parent["source_id"] == row["source_id"] and parent["parent_id"] == f"tulu_prompts/{row['source_id']}"
    assert row["messages"][0] == {"role": "user", "content": parent["prompt"]}
    assert answers.height >= 35

    # every filter did its job on the fixture's hard cases
    reasons = dict(store.read("tulu_answers_fr", table="rejects").group_by("reason").len().iter_rows())
    assert reasons.get("refusal") == 1 and reasons.get("judge_false") == 1 and reasons.get("truncated", 0) >= 1
    translate_rejects = store.read("tulu_prompts_fr", table="rejects")
    assert translate_rejects.height >= 1  # the prompt with no shipped translation: tiny-model noise

    meta = _metadata(result, "tulu_answers_fr")
    assert meta["llm/answer/calls_made"] >= 1  # a cache miss went to the transformers backend
    assert meta["llm/answer/cache_hits"] >= 40 and meta["llm/judge/cache_hits"] >= 35
    assert meta["dagster/row_count"] == answers.height and "preview" in meta and "length_plot" in meta
    assert "data:image/png;base64," in meta["length_plot"]

    # the truncated replies are failures, counted (and cached with their status), never data
    translate_meta = _metadata(result, "tulu_prompts_fr")
    assert translate_meta["llm/translate/failed"] == translate_rejects.filter(pl.col("reason") == "truncated").height
    assert meta["llm/answer/failed"] == reasons["truncated"] and meta["llm/answer/reasked_truncated"] >= 1

    # a second run answers every good reply from the caches and sends exactly the failed ones again
    again = dg.materialize([tulu_prompts_fr, tulu_answers_fr], resources=resources)
    assert _metadata(again, "tulu_prompts_fr")["llm/translate/calls_made"] == translate_meta["llm/translate/failed"]
    assert _metadata(again, "tulu_answers_fr")["llm/answer/calls_made"] == meta["llm/answer/failed"]
    assert store.read("tulu_answers_fr").equals(answers)


def test_tulu_checks_catch_english_answers_orphans_and_bad_shapes(tmp_path):
    resources = _resources(tmp_path)
    store = resources["luth_storage"].store
    store.write(pl.DataFrame({"id": ["tulu_prompts_fr/a"], "prompt": ["Écris un poème sur la mer."]}), "tulu_prompts_fr")
    rows = [
        ("tulu_answers_fr/a", "tulu_prompts_fr/a", [("user", "Écris un poème sur la mer."),
                                                    ("assistant", "La mer chante sous le vent du soir, et la vague revient.")]),
        ("tulu_answers_fr/b", "tulu_prompts_fr/gone", [("user", "Écris un poème sur la mer."),
                                                       ("assistant", "The sea sings under the evening wind, and the wave returns.")]),
        ("tulu_answers_fr/c", "tulu_prompts_fr/a", [("user", "Écris un poème sur la mer."), ("assistant", "  ")]),
    ]
    store.write(pl.DataFrame({"id": [r[0] for r in rows], "parent_id": [r[1] for r in rows],
                              "messages": [[{"role": role, "content": text} for role, text in r[2]] for r in rows]}),
                "tulu_answers_fr")
    shape = tulu_checks.tulu_chat_shape(resources["luth_storage"])
    lineage = tulu_checks.tulu_lineage(resources["luth_storage"])
    french = tulu_checks.tulu_french(resources["luth_config"], resources["luth_storage"])
    assert not shape.passed and shape.metadata["examples"].value == ["tulu_answers_fr/c"]
    assert not lineage.passed and lineage.metadata["examples"].value == ["tulu_answers_fr/b"]
    assert not french.passed and "tulu_answers_fr/b" in french.metadata["examples"].value
