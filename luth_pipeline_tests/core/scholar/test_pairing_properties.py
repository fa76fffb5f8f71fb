"""Property: whatever a model's replies do to an exam whose numbering restarts in every exercise
and part (reorder, skip, cut at max tokens, contradict, reformat paths, fail), the real chain
never pairs a question with another question's context or answer, and every question ends up
either extracted or in the rejects with its reason: never silently fewer items."""

import json
from dataclasses import dataclass
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.llm.client import judge_reply
from luth_pipeline.core.llm.types import LLMResponse
from luth_pipeline.core.scholar.chain import ExamDocuments, Prompts, run_chain
from luth_pipeline.core.scholar.pdf import PageContent
from luth_pipeline.core.scholar.structure import path_key, path_label
from luth_pipeline_tests.fixtures.scholar.scripted_gemini import prompt_of, sent_paths

CONFIG = load_profile("local").scholar
PROMPTS = Prompts(REPO_ROOT / CONFIG.prompts_dir)
EXAM = {"exam_id": "bac-prop", "level": "Bac", "contest": "Bac général", "subject": "maths", "year": 2025,
        "sujet_sha256": "s" * 64, "corrige_sha256": "c" * 64, "sujet_pages": 2, "corrige_pages": 1}
STEPS = ("questions", "context", "answers", "enrich")
FLAWS = ("none", "shuffle", "skip", "cut", "conflict", "reformat", "garbage")


@dataclass
class TrueQuestion:
    exercise: str
    part: str
    number: str
    index: int

    @property
    def path(self) -> str:
        return path_label(self.exercise, self.part, self.number)

    def field(self, name: str) -> str:
        return {"text": f"Calculer $x_{{{self.index}}}$ au point {self.index}.", "context": f"Soit $f_{{{self.index}}}$ définie sur $\\mathbb{{R}}$.",
                "answer": f"$x_{{{self.index}}} = \\frac{{{self.index}}}{{2}}$.", "enriched": f"Contexte enrichi n° {self.index}."}[name]


@st.composite
def exams(draw) -> list[TrueQuestion]:
    """1–3 exercises, some with parts; numbering restarts at « 1. » in every exercise and part."""
    questions = []
    for e in range(1, draw(st.integers(1, 3)) + 1):
        for part in draw(st.sampled_from([[""], ["Partie A", "Partie B"]])):
            for n in range(1, draw(st.integers(1, 3)) + 1):
                questions.append(TrueQuestion(f"Exercice {e}", part, f"{n}.", len(questions)))
    return questions


class FlawedModel:
    """Answers each step from the truth, with the step's flaw; `generate` like `core.llm.LLMClient`."""

    def __init__(self, truth: list[TrueQuestion], flaws: dict[str, tuple[str, float]]):
        self.truth, self.flaws = truth, flaws  # step → (flaw, where in the reply it strikes, 0–1)
        self.by_key = {path_key(q.path): q for q in truth}

    def generate(self, requests, desc: str = "", parse=None):
        # each reply judged as the real client judges it (status, the stage's parser), no retries
        return SimpleNamespace(responses=[judge_reply(r, self.reply(prompt_of(r)), parse) for r in requests])

    def reply(self, prompt: str) -> LLMResponse:
        step = next(name for n, name in enumerate(STEPS, 1) if f"(étape {n}/4)" in prompt)
        flaw, where = self.flaws[step]
        if step == "questions":
            rows = [{"exercise": q.exercise, "part": q.part, "number": q.number, "text": q.field("text"), "pages": [1]}
                    for q in self.truth]
            list_name = "questions"
        else:
            sent = [self.by_key[path_key(p)] for p in sent_paths(prompt)]
            reply_field, truth_field = {"context": ("context", "context"), "answers": ("answer", "answer"),
                                        "enrich": ("context", "enriched")}[step]
            rows = [{"path": q.path, reply_field: q.field(truth_field), "pages": [1]} for q in sent]
            list_name = "answers" if step == "answers" else "items"
        at = int(where * len(rows))  # an index into the rows
        if flaw == "shuffle":
            rows = (rows[at:] + rows[:at])[::-1]
        elif flaw == "skip" and rows:
            del rows[at]
        elif flaw == "conflict" and rows:
            twin = dict(rows[at])
            key = "text" if step == "questions" else next(k for k in twin if k not in ("path", "pages"))
            twin[key] = "Une autre version, contradictoire."
            rows.insert(len(rows) - at, twin)
        elif flaw == "reformat":  # the same paths written differently: « EXERCICE 1 > 2 » for « Exercice 1 > 2. »
            for row in rows:
                if "path" in row:
                    row["path"] = row["path"].upper().replace(".", "")
                else:
                    row["number"] = row["number"].rstrip(".")
        payload = {list_name: rows}
        if step == "questions":
            counts = {}
            for q in self.truth:
                counts[q.exercise] = counts.get(q.exercise, 0) + 1
            payload = {"exercises": [{"exercise": e, "question_count": n} for e, n in counts.items()], **payload}
        text = json.dumps(payload, ensure_ascii=False)
        if flaw == "garbage":
            return LLMResponse(text="Je ne peux pas répondre.", finish_reason="stop")
        if flaw == "cut":  # stopped at max tokens somewhere inside the item list
            start = text.index(f'"{list_name}": [')
            return LLMResponse(text=text[: start + int(where * (len(text) - start))], finish_reason="length")
        return LLMResponse(text=text, finish_reason="stop")


FLAW = st.tuples(st.sampled_from(FLAWS), st.floats(0, 1, exclude_max=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(truth=exams(), flaws=st.fixed_dictionaries({s: FLAW for s in STEPS}))
def test_no_reply_flaw_mispairs_or_silently_drops_a_question(truth, flaws):
    exam = ExamDocuments(EXAM, [PageContent(1, "Sujet"), PageContent(2, "Suite")], [PageContent(1, "Corrigé")])
    result = run_chain([exam], FlawedModel(truth, flaws), CONFIG.extraction, PROMPTS, log=lambda *_: None)
    by_key = {path_key(q.path): q for q in truth}

    for item in result.items:  # never another question's context or answer
        q = by_key[path_key(item["path"])]
        assert (item["question"], item["answer"], item["context"]) == (q.field("text"), q.field("answer"), q.field("enriched"))
    kept = {path_key(i["path"]) for i in result.items}
    assert len(kept) == len(result.items)  # one item per path

    if result.failed_exams:
        assert result.items == []
        return
    rejected = {path_key(r["path"]) for r in result.rejects}
    for q in truth:  # every question is accounted for: extracted, or rejected (itself or its whole exercise)
        assert path_key(q.path) in kept | rejected or path_key(q.exercise) in rejected, (q.path, flaws)
    if {flaw for flaw, _ in flaws.values()} <= {"none", "shuffle", "reformat"}:
        assert len(result.items) == len(truth) and result.rejects == []  # harmless flaws lose nothing
