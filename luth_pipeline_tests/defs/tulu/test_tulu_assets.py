"""The three Tulu assets materialize offline with the local profile: real French rows from the
shipped fixture cache, cache misses answered by the tiny transformers model, lineage kept."""

import dagster as dg
import polars as pl

from luth_pipeline.core.config import load_profile
from luth_pipeline.defs.tulu.assets import tulu_answers_fr, tulu_prompts, tulu_prompts_fr
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource


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
    result = dg.materialize([tulu_prompts, tulu_prompts_fr, tulu_answers_fr], resources=resources)
    assert result.success
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

    # a second run is answered entirely from the caches: zero backend calls
    again = dg.materialize([tulu_prompts_fr, tulu_answers_fr], resources=resources)
    assert _metadata(again, "tulu_prompts_fr")["llm/translate/calls_made"] == 0
    assert _metadata(again, "tulu_answers_fr")["llm/answer/calls_made"] == 0
    assert store.read("tulu_answers_fr").equals(answers)
