"""The whole chain through the real LLM client and google-genai, against the loopback Gemini server."""

import pytest

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.llm import build_client
from luth_pipeline.core.scholar.chain import Prompts, run_chain
from luth_pipeline.core.scholar.download import BlobStore
from luth_pipeline.core.scholar.exercises import build_exercises
from luth_pipeline.core.scholar.inventory import build_inventory, open_exam
from luth_pipeline.core.scholar.schemas import AnswerList, QuestionList, response_schema
from luth_pipeline_tests.fixtures.scholar.loopback import API_KEY_ENV, gemini_profile, scripted_reply
from luth_pipeline_tests.servers import GeminiServer

quiet = lambda *_: None  # noqa: E731


@pytest.fixture
def server():
    with GeminiServer(reply_fn=scripted_reply) as s:
        yield s


def _run(profile, tmp_path):
    config = profile.scholar
    prompts = Prompts(REPO_ROOT / config.prompts_dir)
    blobs = BlobStore(str(tmp_path / "blobs"))
    inventory = build_inventory(config, REPO_ROOT, blobs, log=quiet)
    documents = [open_exam(row, blobs, config) for row in inventory.exams]
    keys = {API_KEY_ENV: "test-key-123456"}
    extraction_client = build_client(profile, config.extraction, api_keys=keys)
    refine_client = build_client(profile, config.refinement, api_keys=keys)
    extraction = run_chain(documents, extraction_client, config.extraction, prompts, log=quiet)
    exercises = build_exercises(extraction.items, refine_client, config, prompts, log=quiet)
    extraction_client.close()
    refine_client.close()
    return inventory, extraction, exercises


def test_chain_end_to_end_on_loopback_gemini(server, tmp_path):
    profile = load_profile(str(gemini_profile(tmp_path, server.url)))
    server.inject(500)  # the first call fails: the client retries it
    server.malformed_next(1, body=b'{"candidates": [ not json')  # a broken HTTP body, retried too
    inventory, extraction, exercises = _run(profile, tmp_path)

    # 4 exams x 4 steps, 18 distinct refinements (the repeated question is sent once), 2 retries,
    # and the SVT enrichment cut at max_tokens asked once more with twice the budget
    assert len(server.requests) == 16 + 18 + 2 + 1
    enrich_budgets = [r.json["generationConfig"]["maxOutputTokens"] for r in server.requests
                      if r.json and "bac-2022-svt-metropole" in r.prompt and "(étape 4/4)" in r.prompt]
    assert enrich_budgets == [8192, 16384]
    assert extraction.failures == [] and len(extraction.items) == 20

    bodies = [r.json for r in server.requests if r.json]
    questions = [b for b in bodies if "(étape 1/4)" in b["contents"][0]["parts"][0]["text"]]
    maths = next(b for b in questions if "bac-2024-maths-metropole" in b["contents"][0]["parts"][0]["text"])
    parts = maths["contents"][0]["parts"]
    images = [p["inlineData"] for p in parts if "inlineData" in p]
    assert len(images) == 1 and images[0]["mimeType"] == "image/png"  # the scanned page 3, as a picture
    assert any("SUJET, page 3 (image" in p.get("text", "") for p in parts)
    assert any("Exercice 1" in p.get("text", "") for p in parts)  # text pages as text
    config = maths["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == response_schema(QuestionList)
    answers = [b for b in bodies if "(étape 3/4)" in b["contents"][0]["parts"][0]["text"]]
    assert all(b["generationConfig"]["responseJsonSchema"] == response_schema(AnswerList) for b in answers)
    assert all("CORRIGÉ, page 1" in b["contents"][0]["parts"][1]["text"] for b in answers)

    # malformed JSON replies were repaired: raw LaTeX backslashes (physics answers); a cut reply
    # (SVT enrichment, cut again at twice the budget) is a failure, not a silently shorter list
    assert extraction.steps["answers"].parse["latex_escapes"] == 1
    assert extraction.steps["enrich"].truncated == 1 and extraction.steps["enrich"].parse["json_repair"] == 0
    assert not any(i["context_enriched"] for i in extraction.items if i["exam_id"] == "bac-2022-svt-metropole")
    by_id = {i["id"]: i for i in extraction.items}
    assert by_id["scholar/cpge-2023-ccinp-physique-mp/001"]["answer"] == "$\\tau = RC$."
    # provenance: sha256 of both PDFs and page ranges (3.a was on the scanned page 3)
    scanned = by_id["scholar/bac-2024-maths-metropole/007"]
    maths_row = next(e for e in inventory.exams if e["exam_id"] == "bac-2024-maths-metropole")
    assert scanned["number"] == "3.a" and (scanned["sujet_page_start"], scanned["sujet_page_end"]) == (3, 3)
    assert scanned["sujet_sha256"] == maths_row["sujet_sha256"] and scanned["corrige_page_start"] == 2

    reasons = {r["id"]: r["reason"].split(":")[0] for r in exercises.rejects}
    assert reasons == {
        "scholar/bac-2023-nsi-amerique-nord/002": "answerless",
        "scholar/bac-2023-nsi-amerique-nord/000": "latex",
        "scholar/bac-2024-maths-metropole/002": "restatement",
        "scholar/bac-2024-maths-metropole/006": "figure",
        "scholar/bac-2024-maths-metropole/009": "duplicate",
        "scholar/cpge-2023-ccinp-physique-mp/003": "language",
        "scholar/bac-2022-svt-metropole/001": "figure",
    }
    assert len(exercises.rows) == 13

    # a re-run answers everything else from the cache and asks again only the failed enrichment,
    # at the budget it had reached
    server.reset()
    _, again, exercises_again = _run(profile, tmp_path)
    assert [(r.json["generationConfig"]["maxOutputTokens"], "bac-2022-svt-metropole/enrich" in r.prompt or "(étape 4/4)" in r.prompt)
            for r in server.requests] == [(16384, True)]
    assert again.items == extraction.items
    assert [r["id"] for r in exercises_again.rows] == [r["id"] for r in exercises.rows]


def test_an_exam_whose_replies_never_parse_fails_alone(tmp_path):
    def reply(request):
        if "bac-2022-svt-metropole" in request.prompt and "(étape 1/4)" in request.prompt:
            return "Je ne peux pas traiter ce document."
        return scripted_reply(request)

    with GeminiServer(reply_fn=reply) as server:
        profile = load_profile(str(gemini_profile(tmp_path, server.url)))
        _, extraction, _ = _run(profile, tmp_path)
    assert extraction.failures == [{"exam_id": "bac-2022-svt-metropole", "step": "questions",
                                    "reason": extraction.failures[0]["reason"]}]
    assert "unparseable reply" in extraction.failures[0]["reason"]
    assert {i["exam_id"] for i in extraction.items} == {"bac-2024-maths-metropole", "cpge-2023-ccinp-physique-mp",
                                                        "bac-2023-nsi-amerique-nord"}
