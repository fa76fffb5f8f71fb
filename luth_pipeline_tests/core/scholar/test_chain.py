"""The whole chain through the real LLM client and google-genai, against the loopback Gemini server."""

import json
from contextlib import closing
from types import SimpleNamespace

import pytest

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.llm import build_client
from luth_pipeline.core.scholar.chain import Prompts, run_chain
from luth_pipeline.core.scholar.download import BlobStore
from luth_pipeline.core.scholar.exercises import build_exercises
from luth_pipeline.core.scholar.inventory import build_inventory, open_exam
from luth_pipeline.core.scholar.schemas import AnswerList, QuestionList, response_schema
from luth_pipeline_tests.fixtures.scholar.exams import EXAMS, RESTART
from luth_pipeline_tests.fixtures.scholar.loopback import API_KEY_ENV, gemini_profile, scripted_reply
from luth_pipeline_tests.fixtures.scholar.scripted_gemini import fixture_path
from luth_pipeline_tests.servers import Completion, GeminiServer

quiet = lambda *_: None  # noqa: E731


def _run(profile, tmp_path, refine=True):
    config = profile.scholar
    prompts = Prompts(REPO_ROOT / config.prompts_dir)
    blobs = BlobStore(str(tmp_path / "blobs"))
    inventory = build_inventory(config, REPO_ROOT, blobs, log=quiet)
    documents = [open_exam(row, blobs, config) for row in inventory.exams]
    keys = {API_KEY_ENV: "test-key-123456"}
    with closing(build_client(profile, config.extraction, api_keys=keys)) as extraction_client:
        extraction = run_chain(documents, extraction_client, config.extraction, prompts, log=quiet)
    if not refine:
        return inventory, extraction, None
    with closing(build_client(profile, config.refinement, api_keys=keys)) as refine_client:
        exercises = build_exercises(extraction.items, refine_client, config, prompts, log=quiet)
    return inventory, extraction, exercises


FIXTURE = {(exam.id, fixture_path(q)): q for exam in EXAMS for q in exam.questions}


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory):
    """The chain and the refinement once on the scripted loopback Gemini (a 500 and a broken body injected)."""
    tmp_path = tmp_path_factory.mktemp("scholar-chain")
    with GeminiServer(reply_fn=scripted_reply) as server:
        profile = load_profile(str(gemini_profile(tmp_path, server.url)))
        server.inject(500)  # the first call fails: the client retries it
        server.malformed_next(1, body=b'{"candidates": [ not json')  # a broken HTTP body, retried too
        inventory, extraction, exercises = _run(profile, tmp_path)
        yield SimpleNamespace(server=server, profile=profile, tmp_path=tmp_path, inventory=inventory,
                              extraction=extraction, exercises=exercises)


def _rejects(extraction) -> set[tuple]:
    return {(r["exam_id"], r["step"], r["path"], r["reason"]) for r in extraction.rejects}


def _assert_nothing_silently_lost(extraction):
    """Every question of every exam still standing is an item, or a reject naming it or its exercise."""
    items = {(i["exam_id"], i["path"]) for i in extraction.items}
    rejected = {(r["exam_id"], r["path"]) for r in extraction.rejects}
    for exam in EXAMS:
        if exam.id in extraction.failed_exams:
            continue
        for q in exam.questions:
            key = (exam.id, fixture_path(q))
            assert key in items or key in rejected or (exam.id, q.exercise) in rejected, f"{key} silently lost"


def _assert_paired_by_path(extraction):
    """Each item carries the question, answer and context of its own path (per the fixture)."""
    for item in extraction.items:
        q = FIXTURE[(item["exam_id"], item["path"])]
        assert (item["exercise"], item["part"], item["number"]) == (q.exercise, q.part, q.number)
        assert item["question"] == q.text and item["answer"] == q.answer, item["id"]
        assert item["context"] == (q.enriched_context or q.context), item["id"]


def test_chain_end_to_end_on_loopback_gemini(scripted_run):
    server, inventory, extraction, exercises = (scripted_run.server, scripted_run.inventory, scripted_run.extraction,
                                                scripted_run.exercises)

    # 5 exams x 4 steps, 24 refinements (25 items, one without an answer), 2 retries, and the SVT
    # enrichment cut at max_tokens asked once more with twice the budget (cut again)
    assert len(server.requests) == 20 + 24 + 2 + 1
    enrich_budgets = [r.json["generationConfig"]["maxOutputTokens"] for r in server.requests
                      if r.json and "bac-2022-svt-metropole" in r.prompt and "(étape 4/4)" in r.prompt]
    assert enrich_budgets == [8192, 16384]
    assert extraction.failed_exams == set() and len(extraction.items) == 25
    assert _rejects(extraction) == {
        # the context reply skipped a question: rejected, not kept without its context
        (RESTART.id, "context", "Exercice 2 > Partie B > 2.", "missing from the reply"),
        # the SVT enrichment was cut at max tokens: the questions after the cut are rejected
        ("bac-2022-svt-metropole", "enrich", "Exercice 1 > 2", "lost in the reply cut at max tokens"),
        ("bac-2022-svt-metropole", "enrich", "Exercice 1 > 3", "lost in the reply cut at max tokens"),
    }
    _assert_nothing_silently_lost(extraction)
    _assert_paired_by_path(extraction)

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
    assert list(config["responseJsonSchema"]["properties"]) == ["exercises", "questions"]  # the outline first
    answers = [b for b in bodies if "(étape 3/4)" in b["contents"][0]["parts"][0]["text"]]
    assert all(b["generationConfig"]["responseJsonSchema"] == response_schema(AnswerList) for b in answers)
    assert all("CORRIGÉ, page 1" in b["contents"][0]["parts"][1]["text"] for b in answers)
    # later steps are sent only the questions still standing, each with its path
    restart_enrich = next(b["contents"][0]["parts"][0]["text"] for b in bodies
                          if "(étape 4/4)" in b["contents"][0]["parts"][0]["text"] and RESTART.id in b["contents"][0]["parts"][0]["text"])
    assert '"path": "Exercice 2 > Partie A > 1."' in restart_enrich and "Partie B > 2." not in restart_enrich

    # malformed JSON replies were repaired: raw LaTeX backslashes (physics answers); the cut SVT
    # enrichment kept only its items written out whole
    assert extraction.steps["answers"].parse["latex_escapes"] == 1
    assert extraction.steps["enrich"].parse["complete_items"] == 1 and extraction.steps["enrich"].truncated == 1
    assert extraction.steps["questions"].repeated == 1  # maths 3.a read twice (text layer and page image)
    by_id = {i["id"]: i for i in extraction.items}
    assert by_id["scholar/cpge-2023-ccinp-physique-mp/001"]["answer"] == "$\\tau = RC$."
    # provenance: sha256 of both PDFs and page ranges (3.a was on the scanned page 3)
    scanned = by_id["scholar/bac-2024-maths-metropole/007"]
    maths_row = next(e for e in inventory.exams if e["exam_id"] == "bac-2024-maths-metropole")
    assert scanned["path"] == "Exercice 3 > 3.a" and (scanned["sujet_page_start"], scanned["sujet_page_end"]) == (3, 3)
    assert scanned["sujet_sha256"] == maths_row["sujet_sha256"] and scanned["corrige_page_start"] == 2

    reasons = {r["id"]: r["reason"].split(":")[0] for r in exercises.rejects}
    assert reasons == {
        "scholar/bac-2023-nsi-amerique-nord/002": "answerless",
        "scholar/bac-2023-nsi-amerique-nord/000": "latex",
        "scholar/bac-2024-maths-metropole/002": "restatement",
        "scholar/bac-2024-maths-metropole/006": "figure",
        f"scholar/{RESTART.id}/007": "duplicate",  # a question reused word for word from the 2024 subject
        "scholar/cpge-2023-ccinp-physique-mp/003": "language",
    }
    assert len(exercises.rows) == 19
    source_ids = {r["source_id"] for r in exercises.rows}
    assert {f"{RESTART.id}#Exercice 1 > 1.", f"{RESTART.id}#Exercice 2 > Partie A > 1.",
            f"{RESTART.id}#Exercice 2 > Partie B > 1."} <= source_ids

    # a re-run answers everything else from the cache and asks again only the failed enrichment,
    # at the budget it had reached
    server.reset()
    _, again, exercises_again = _run(scripted_run.profile, scripted_run.tmp_path)
    assert [(r.json["generationConfig"]["maxOutputTokens"], "bac-2022-svt-metropole" in r.prompt and "(étape 4/4)" in r.prompt)
            for r in server.requests] == [(16384, True)]
    assert again.items == extraction.items
    assert [r["id"] for r in exercises_again.rows] == [r["id"] for r in exercises.rows]


def test_numbering_that_restarts_in_every_exercise_pairs_every_answer(scripted_run):
    numbers = [q.number for q in RESTART.questions]
    assert len(set(numbers)) < len(numbers) / 2  # « 1. » four times, « 2. » four times: the number alone is ambiguous
    extraction = scripted_run.extraction
    restart = [i for i in extraction.items if i["exam_id"] == RESTART.id]
    # the answers reply lists the exercises last one first; only the skipped question is missing
    assert [i["path"] for i in restart] == [fixture_path(q) for q in RESTART.questions if q.skipped_in is None]
    _assert_paired_by_path(extraction)
    answers = {i["path"]: i["answer"] for i in restart}
    assert answers["Exercice 1 > 1."] == "$v_3 = 3 \\times 2^3 = 24$."
    assert answers["Exercice 2 > Partie A > 1."] == "$g'(x) = 1 - \\frac{1}{x} = \\frac{x - 1}{x}$."
    assert answers["Exercice 2 > Partie B > 1."] == "$h'(x) = \\frac{2x}{x^2 + 1}$."
    assert answers["Exercice 3 > 1."] == "$P = \\left(\\frac{3}{5}\\right)^2 = \\frac{9}{25}$."


def _cut(text: str, marker: str, after: int) -> Completion:
    """The reply stopped at max tokens `after` characters into `marker` (Gemini: MAX_TOKENS)."""
    return Completion(text=text[: text.index(marker) + after], finish_reason="length")


def test_replies_that_are_cut_or_drop_items_reject_what_they_lost(tmp_path):
    def reply(request):
        prompt, scripted = request.prompt, scripted_reply(request)
        step = next((n for n in range(1, 5) if f"(étape {n}/4)" in prompt), None)
        if step == 1 and RESTART.id in prompt:  # cut inside Exercice 2's second question
            return _cut(scripted.text, "En déduire le minimum", 12)
        if step == 1 and "bac-2024-maths-metropole" in prompt:  # ends normally but skips Exercice 2
            payload = json.loads(scripted.text)
            payload["questions"] = [q for q in payload["questions"] if q["exercise"] != "Exercice 2"]
            return json.dumps(payload, ensure_ascii=False)
        if step == 2 and "bac-2023-nsi-amerique-nord" in prompt:  # cut inside the second context's formula
            return _cut(scripted.text, "On dispose d'une liste $L$ d'entiers", 26)
        if step == 3 and "bac-2022-svt-metropole" in prompt:  # two different answers for one question
            payload = json.loads(scripted.text)
            payload["answers"].append({**payload["answers"][1], "answer": "La phase S dure 2 heures."})
            return json.dumps(payload, ensure_ascii=False)
        if step == 4 and "cpge-2023-ccinp-physique-mp" in prompt:
            return "Désolé, je ne peux pas compléter ces contextes."
        if step is None and "Emplacement : Exercice 1 > 1." in prompt and RESTART.id in prompt:
            return _cut(scripted.text, '"answer"', 40)  # a refined answer cut mid-way
        return scripted

    with GeminiServer(reply_fn=reply) as server:
        profile = load_profile(str(gemini_profile(tmp_path, server.url)))
        _, extraction, exercises = _run(profile, tmp_path)

    assert extraction.failed_exams == {"cpge-2023-ccinp-physique-mp"}
    physics = next(r["reason"] for r in extraction.rejects if r["path"] is None)
    assert physics.startswith("unparseable reply: no JSON in the reply")
    lost = "lost in the reply cut at max tokens"
    assert _rejects(extraction) == {
        (RESTART.id, "questions", "Exercice 2", "1 of the 4 questions its outline announces (reply cut at max tokens)"),
        (RESTART.id, "questions", "Exercice 3", "0 of the 2 questions its outline announces (reply cut at max tokens)"),
        ("bac-2024-maths-metropole", "questions", "Exercice 2",
         "0 of the 3 questions its outline announces (the model skipped some)"),
        ("bac-2023-nsi-amerique-nord", "context", "Exercice 1 > 2", lost),
        ("bac-2023-nsi-amerique-nord", "context", "Exercice 1 > 3", lost),
        ("bac-2022-svt-metropole", "answers", "Exercice 1 > 2", "the reply gives 2 different items for this question"),
        ("bac-2022-svt-metropole", "enrich", "Exercice 1 > 3", lost),  # the scripted enrichment is cut too
        ("cpge-2023-ccinp-physique-mp", "enrich", None, physics),  # the whole step failed: the exam is rejected
    }
    _assert_nothing_silently_lost(extraction)
    _assert_paired_by_path(extraction)  # every kept context is complete: none ends mid-formula
    kept = {(i["exam_id"], i["path"]) for i in extraction.items}
    assert {p for e, p in kept if e == RESTART.id} == {"Exercice 1 > 1.", "Exercice 1 > 2.", "Exercice 1 > 3."}
    assert {p for e, p in kept if e == "bac-2023-nsi-amerique-nord"} == {"Exercice 1 > 1"}
    assert extraction.steps["questions"].truncated == 1 and extraction.steps["questions"].items_rejected == 3

    refine_rejects = {r["id"]: r["reason"] for r in exercises.rejects if r["reason"].startswith("refinement")}
    assert refine_rejects == {f"scholar/{RESTART.id}/000": "refinement: reply cut at max tokens before it was complete"}


def test_an_exam_whose_replies_never_parse_fails_alone(tmp_path):
    def reply(request):
        if "bac-2022-svt-metropole" in request.prompt and "(étape 1/4)" in request.prompt:
            return "Je ne peux pas traiter ce document."
        return scripted_reply(request)

    with GeminiServer(reply_fn=reply) as server:
        profile = load_profile(str(gemini_profile(tmp_path, server.url)))
        _, extraction, _ = _run(profile, tmp_path, refine=False)
    assert [(r["exam_id"], r["step"], r["path"]) for r in extraction.rejects if r["path"] is None] == [
        ("bac-2022-svt-metropole", "questions", None)]
    assert "unparseable reply" in extraction.rejects[0]["reason"]
    assert {i["exam_id"] for i in extraction.items} == {"bac-2024-maths-metropole", "cpge-2023-ccinp-physique-mp",
                                                        "bac-2023-nsi-amerique-nord", RESTART.id}
