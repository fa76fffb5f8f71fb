"""The three Scholar assets under Dagster: offline from the shipped cache, and on loopback Gemini."""

import base64

import dagster as dg
import polars as pl
import pytest

from luth_pipeline_tests.stage_defs import assets, checks
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource
from luth_pipeline_tests.fixtures.scholar.loopback import API_KEY_ENV, gemini_profile, scripted_reply
from luth_pipeline_tests.servers import GeminiServer

ASSETS = assets("scholar_pdfs", "scholar_extractions", "scholar_exercises")
CHECKS = checks("scholar_one_item_per_path", "scholar_chat_shape", "scholar_lineage", "scholar_latex_and_french")


def _metadata(result, key):
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return {k: getattr(v, "value", v) for k, v in events[0].materialization.metadata.items()}


def test_local_profile_materializes_offline_from_the_shipped_cache(luth_resources, tmp_path):
    result = dg.materialize(ASSETS + CHECKS, resources=luth_resources)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())

    pdfs = _metadata(result, "scholar_pdfs")
    assert pdfs["dagster/row_count"] == 5 and pdfs["files_rejected"] == 2 and pdfs["pdfs_deduplicated"] == 2
    assert pdfs["pages_without_text"] == 1  # the maths subject's scanned page (its mirror copy is not counted)

    extractions = _metadata(result, "scholar_extractions")
    # the shipped cache answers every request: a stale cache (prompt or config changed) fails here;
    # rebuild it with `python -m luth_pipeline_tests.fixtures.scholar.make_fixtures`
    # the SVT enrichment is shipped cut at max_tokens at both budgets: a recorded failure (not a hit,
    # and no other model is asked to redo it), of which only the items written out whole are kept
    assert extractions["llm_requests"] == 20 and extractions["llm_cache_hits"] == 19
    assert extractions["dagster/row_count"] == 25 and extractions["replies_repaired"] == 1
    # what the replies lost is rejected and counted: a skipped question, two cut off by max tokens
    assert extractions["exams_failed"] == 0 and extractions["items_rejected"] == 3
    assert extractions["rejected_by_step"] == {"context": 1, "enrich": 2} and extractions["replies_cut_at_max_tokens"] == 1
    assert "| enrich | 5 | 4 | 0 | 1 |" in extractions["steps"]

    exercises = _metadata(result, "scholar_exercises")
    assert exercises["refine_cache_hits"] == 24 and exercises["dagster/row_count"] == 19
    assert "| extraction_rejects | 3 |" in exercises["counts_per_step"] and "| extracted | 25 |" in exercises["counts_per_step"]
    assert exercises["rejected_by_check"] == {"answerless": 1, "latex": 1, "restatement": 1, "figure": 1, "language": 1,
                                              "duplicate": 1}
    assert "![subject mix](data:image/png;base64," in exercises["subject_mix_plot"]
    png = base64.b64decode(exercises["subject_mix_plot"].split("base64,")[1].rstrip(")"))
    assert png.startswith(b"\x89PNG")
    assert "| maths | 14 |" in exercises["subject_mix"] and "67.0%" in exercises["subject_mix"]

    store = luth_resources["luth_storage"].store
    data = store.read("scholar_exercises")
    assert data.columns[:6] == ["id", "messages", "source", "source_id", "parent_asset", "parent_id"]
    row = data.filter(pl.col("source_id") == "bac-2024-maths-metropole#Exercice 1 > 1.d").row(0, named=True)
    assert row["messages"][0]["content"].startswith("On considère la suite") and "En déduire" in row["messages"][0]["content"]
    assert row["messages"][1]["role"] == "assistant" and "$\\ell = 6$" in row["messages"][1]["content"]
    assert (row["subject"], row["difficulty"], row["parent_asset"]) == ("maths", "medium", "scholar_extractions")
    rejects = store.read("scholar_exercises", table="rejects")
    assert set(rejects["reason"].str.split(":").list.first()) == {"figure", "answerless", "latex", "language",
                                                                  "restatement", "duplicate"}
    extraction_rejects = store.read("scholar_extractions", table="rejects")
    assert extraction_rejects.sort("path").select("step", "path", "reason").rows() == [
        ("enrich", "Exercice 1 > 2", "lost in the reply cut at max tokens"),
        ("enrich", "Exercice 1 > 3", "lost in the reply cut at max tokens"),
        ("context", "Exercice 2 > Partie B > 2.", "missing from the reply"),
    ]
    pdf_rejects = store.read("scholar_pdfs", table="rejects")
    assert sorted(pdf_rejects["role"]) == ["corrige", "pair", "sujet"]


def test_assets_on_loopback_gemini_with_the_key_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "sk-scholar-secret-0042")
    with GeminiServer(reply_fn=scripted_reply) as server:
        server.fail_next(2, status=429)
        profile = gemini_profile(tmp_path, server.url)
        resources = {"luth_config": LuthConfig(profile=str(profile)), "luth_storage": LuthStorage(root=str(tmp_path / "data")),
                     "llm": LLMClientResource(gemini_api_key=dg.EnvVar(API_KEY_ENV))}
        result = dg.materialize(ASSETS, resources=resources)
        assert result.success
        assert server.request_count == 20 + 24 + 2 + 1  # + the truncated SVT enrichment at twice the budget
        assert all(r.header("x-goog-api-key") == "sk-scholar-secret-0042" for r in server.requests)
    assert _metadata(result, "scholar_exercises")["dagster/row_count"] == 19
    logs = "\n".join(str(e.event_specific_data) + (e.message or "") for e in result.all_events)
    assert "sk-scholar-secret-0042" not in logs


def test_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    profile = gemini_profile(tmp_path, "http://127.0.0.1:9")
    resources = {"luth_config": LuthConfig(profile=str(profile)), "luth_storage": LuthStorage(root=str(tmp_path / "data")),
                 "llm": LLMClientResource()}
    result = dg.materialize(ASSETS, resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.event_specific_data.error
    assert error.cause.cls_name == "LLMSetupError" and f"export {API_KEY_ENV}" in error.cause.message
