"""The four-step extraction chain (upstream's `full_pipeline_async`), batched across exams.

Per exam: (1) questions from the subject, each with its path (exercise, part, number) and an
outline of how many questions each exercise has, (2) each question's context from the
subject, (3) each answer from the official correction only, (4) contexts enriched with the
results of earlier questions. Steps 2–4 return one item per path and are joined by it
(`structure.py`); a question a reply lost (cut at max tokens, skipped) is rejected with the
reason, never silently dropped, and an exam whose reply fails is rejected whole. Each step is one request per exam; the requests of all exams go to the
shared LLM client together (cached, rate-limited, bounded concurrency), so step k of every exam
runs in parallel and a re-run answers every finished step from the cache.

Pages without a text layer travel as PNG image parts, so the model reads scanned pages too.
Every request asks for structured output (the step's pydantic schema); `repair.parse_reply`
validates the reply and repairs what still breaks.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from luth_pipeline.core.llm.config import StageLLMConfig
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse
from luth_pipeline.core.scholar.pdf import PageContent
from luth_pipeline.core.scholar.repair import ParsedReply, list_fields, parse_reply
from luth_pipeline.core.scholar.schemas import (
    AnswerList,
    ContextList,
    EnrichedList,
    Question,
    QuestionList,
    response_schema,
)
from luth_pipeline.core.scholar.structure import check_questions, match_items, path_key, question_path

STEPS = ("questions", "context", "answers", "enrich")


class GenerationLike(Protocol):
    responses: list[LLMResponse]  # in request order (`core.llm.GenerationResult`, which also has `stats`)


class LLMClientLike(Protocol):
    """What the chain needs from `core.llm.LLMClient`: replies judged by `parse` (a reply it
    rejects, or one cut at max_tokens, comes back not ok, with its status and reason)."""

    def generate(self, requests: Sequence[LLMRequest], desc: str = ..., *,
                 parse: Callable[[str], object] | None = ...) -> GenerationLike: ...


class Prompts:
    """The prompt templates in `configs/prompts/scholar/` (`{{name}}` placeholders)."""

    NAMES = (*STEPS, "refine")

    def __init__(self, directory: Path):
        missing = [n for n in self.NAMES if not (directory / f"{n}.md").is_file()]
        if missing:
            raise FileNotFoundError(f"scholar prompt templates missing in {directory}: {', '.join(m + '.md' for m in missing)}")
        self.templates = {n: (directory / f"{n}.md").read_text(encoding="utf-8") for n in self.NAMES}

    def render(self, name: str, **values: str) -> str:
        text = self.templates[name]
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        if "{{" in text:
            raise ValueError(f"prompt {name}.md has an unfilled placeholder: {text[text.index('{{'):][:40]!r}")
        return text


@dataclass
class ExamDocuments:
    """One exam pair as the chain reads it."""

    exam: dict  # a `scholar_pdfs` row (exam_id, level, contest, subject, year, *_sha256, …)
    sujet: list[PageContent]
    corrige: list[PageContent]

    @property
    def exam_id(self) -> str:
        return self.exam["exam_id"]

    def label(self) -> str:
        e = self.exam
        return f"{e['exam_id']} ({e['level']}, {e['contest']}, {e['subject']}, {e['year']})"


def document_parts(pages: list[PageContent], title: str) -> list[dict]:
    """Text parts per page; a page without a text layer is announced, then sent as an image."""
    parts: list[dict] = []
    for page in pages:
        if page.image_png is None:
            parts.append({"type": "text", "text": f"=== {title}, page {page.number} ===\n{page.text}"})
        else:
            parts.append({"type": "text", "text": f"=== {title}, page {page.number} (image : pas de couche texte) ==="})
            parts.append(page.image_part())
    return parts


def make_request(stage: StageLLMConfig, prompt: str, schema: type[BaseModel], row_id: str, parts: Sequence[dict] = ()) -> LLMRequest:
    content = [{"type": "text", "text": prompt}, *parts] if parts else prompt
    return LLMRequest(
        model=stage.model, messages=({"role": "user", "content": content},), temperature=stage.temperature,
        top_p=stage.top_p, max_tokens=stage.max_tokens, enable_thinking=stage.enable_thinking,
        json_schema=response_schema(schema), row_id=row_id,
    )


@dataclass
class StepStats:
    requests: int = 0
    cache_hits: int = 0
    calls_made: int = 0  # sent to the model (not answered by the cache)
    llm_errors: int = 0
    truncated: int = 0  # finish_reason "length": only the items written out whole were kept
    parse: collections.Counter = field(default_factory=collections.Counter)  # clean / latex_escapes / json_repair / complete_items / failed
    dropped_items: int = 0  # items that did not match the schema
    exams_failed: int = 0
    items_rejected: int = 0  # questions (step 1: exercises or questions) the structural checks rejected
    unknown_paths: int = 0  # items for a path that was never sent
    repeated: int = 0  # identical repeats of a question (step 1), kept once


@dataclass
class ExtractionResult:
    items: list[dict]
    rejects: list[dict]  # exam_id, step, path (None: the whole exam), question, reason
    steps: dict[str, StepStats]

    @property
    def failed_exams(self) -> set[str]:
        return {r["exam_id"] for r in self.rejects if r["path"] is None}


def reply_parser(schema: type[BaseModel]) -> Callable[[str], ParsedReply]:
    """The LLM client's parser for a step: the repaired, validated reply, or ValueError (the
    client then calls the reply `unparseable`, asks again per the stage's policy, and a re-run
    asks it again too)."""
    def parse(text: str) -> ParsedReply:
        parsed = parse_reply(text, schema)
        if parsed.value is None:
            raise ValueError(parsed.error or "no value")
        return parsed

    return parse


def ask_structured(client: LLMClientLike, requests: list[LLMRequest], schema: type[BaseModel], stats: StepStats, desc: str
         ) -> list[tuple[ParsedReply | None, str | None]]:
    """(parsed reply, failure reason) per request, in order."""
    stats.requests += len(requests)
    if not requests:
        return []
    result = client.generate(requests, desc=desc, parse=reply_parser(schema))
    llm_stats = getattr(result, "stats", None)
    stats.cache_hits += getattr(llm_stats, "cache_hits", 0)
    stats.calls_made += getattr(llm_stats, "calls", 0)
    out = []
    for response in result.responses:
        if response.ok:
            parsed = response.parsed
        elif response.status == "truncated" and response.text:
            # Cut again at the policy's larger budget: only the items written out whole are kept;
            # the structural checks then reject, with their reason, every question the cut lost.
            stats.truncated += 1
            parsed = parse_reply(response.text, schema, truncated=True)
            if parsed.value is None:
                out.append((None, parsed.error))
                continue
        else:
            stats.parse["failed"] += response.status == "unparseable"
            stats.llm_errors += response.status != "unparseable"
            if response.status == "unparseable":  # error = "unparseable: <what the parser said>"
                out.append((None, f"unparseable reply: {response.error.split(': ', 1)[-1]}"))
            else:
                out.append((None, f"LLM error: {response.error}"))
            continue
        stats.parse[parsed.method] += 1
        stats.dropped_items += parsed.dropped_items
        out.append((parsed, None))
    return out


def _questions_json(questions: dict[str, Question], **extra_fields: dict[str, str]) -> str:
    """The questions sent to a step, each with the path the step must return with its item."""
    rows = []
    for key, q in questions.items():
        row = {"path": question_path(q), "question": q.text}
        for name, values in extra_fields.items():
            row[name] = values.get(key, "")
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, indent=1)


def _page_range(pages: list[int], page_count: int) -> tuple[int | None, int | None]:
    valid = [p for p in pages if 1 <= p <= page_count]  # a model may cite pages that do not exist
    return (min(valid), max(valid)) if valid else (None, None)


def run_chain(
    exams: list[ExamDocuments], client: LLMClientLike, stage: StageLLMConfig, prompts: Prompts,
    log: Callable[[str], None] = print,
) -> ExtractionResult:
    steps = {name: StepStats() for name in STEPS}
    rejects: list[dict] = []
    alive = {e.exam_id: e for e in exams}
    # exam → path key → question, in subject order; a question rejected at any step leaves it
    questions: dict[str, dict[str, Question]] = {}
    ids: dict[str, dict[str, str]] = {}  # exam → path key → item id (position in the step-1 list)

    def fail(exam_id: str, step: str, reason: str) -> None:
        rejects.append({"exam_id": exam_id, "step": step, "path": None, "question": None, "reason": reason})
        steps[step].exams_failed += 1
        alive.pop(exam_id, None)
        log(f"  ✗ {exam_id} {step}: {reason}")

    def reject(exam_id: str, step: str, path: str, reason: str, question: str = "") -> None:
        rejects.append({"exam_id": exam_id, "step": step, "path": path, "question": question, "reason": reason})
        steps[step].items_rejected += 1
        log(f"  ✗ {exam_id} {step} [{path}]: {reason}")

    # 1. questions with their path, read from the subject (text + images of text-less pages)
    todo = list(alive.values())
    requests = [make_request(stage, prompts.render("questions", exam=e.label()), QuestionList, f"{e.exam_id}/questions",
                             document_parts(e.sujet, "SUJET")) for e in todo]
    for exam, (parsed, error) in zip(todo, ask_structured(client, requests, QuestionList, steps["questions"], "scholar: questions")):
        checked = None if error else check_questions(parsed.value, parsed.cut_lists)
        if error or checked.exam_problem:
            fail(exam.exam_id, "questions", error or checked.exam_problem)
            continue
        steps["questions"].repeated += checked.repeated
        for problem in checked.problems:
            reject(exam.exam_id, "questions", problem.path, problem.reason, problem.question)
        questions[exam.exam_id] = {path_key(question_path(q)): q for q in checked.questions}
        ids[exam.exam_id] = {key: f"scholar/{exam.exam_id}/{i:03d}" for i, key in enumerate(questions[exam.exam_id])}
    log(f"scholar step 1/4 questions: {sum(len(questions[e]) for e in alive)} questions from {len(alive)} exams")

    def item_step(name: str, schema: type[BaseModel], request_for: Callable[[ExamDocuments], LLMRequest]
                  ) -> dict[str, dict[str, BaseModel]]:
        """Steps 2–4: one request per exam with its remaining questions; every question must come back."""
        todo = [e for e in alive.values() if questions[e.exam_id]]
        items_field = list_fields(schema)[0]
        found: dict[str, dict[str, BaseModel]] = {}
        replies = ask_structured(client, [request_for(e) for e in todo], schema, steps[name], f"scholar: {name}")
        for exam, (parsed, error) in zip(todo, replies):
            if error:
                fail(exam.exam_id, name, error)
                continue
            sent = questions[exam.exam_id]
            matched = match_items({k: question_path(q) for k, q in sent.items()}, getattr(parsed.value, items_field), parsed.truncated)
            steps[name].unknown_paths += len(matched.unknown_paths)
            unknown = (f" (the reply has {len(matched.unknown_paths)} path(s) that were not sent, e.g. {matched.unknown_paths[0]!r})"
                       if matched.unknown_paths else "")
            for key, why in matched.problems.items():
                question = sent.pop(key)
                reject(exam.exam_id, name, question_path(question), why + unknown, question.text)
            found[exam.exam_id] = matched.found
        return found

    # 2. context of each question, from the subject
    contexts = item_step("context", ContextList, lambda e: make_request(
        stage, prompts.render("context", exam=e.label(), questions=_questions_json(questions[e.exam_id])),
        ContextList, f"{e.exam_id}/context", document_parts(e.sujet, "SUJET")))

    # 3. answers, from the official correction only
    answers = item_step("answers", AnswerList, lambda e: make_request(
        stage, prompts.render("answers", exam=e.label(), questions=_questions_json(questions[e.exam_id])),
        AnswerList, f"{e.exam_id}/answers", document_parts(e.corrige, "CORRIGÉ")))
    log(f"scholar step 3/4 answers: {sum(len(a) for a in answers.values())} answers for {len(answers)} exams")

    # 4. contexts enriched with earlier results (text only: everything needed is in the JSON)
    def enrich_request(e: ExamDocuments) -> LLMRequest:
        exam_id = e.exam_id
        items = _questions_json(questions[exam_id], context={k: c.context for k, c in contexts[exam_id].items()},
                                reponse={k: a.answer for k, a in answers[exam_id].items()})
        return make_request(stage, prompts.render("enrich", exam=e.label(), items=items), EnrichedList, f"{exam_id}/enrich")

    enriched = item_step("enrich", EnrichedList, enrich_request)

    items = []
    for exam in alive.values():
        e, exam_id = exam.exam, exam.exam_id
        for key, q in questions[exam_id].items():
            answer, enriched_context = answers[exam_id][key], enriched[exam_id][key].context.strip()
            sujet_start, sujet_end = _page_range(q.pages, e["sujet_pages"])
            corrige_start, corrige_end = _page_range(answer.pages, e["corrige_pages"])
            items.append({
                "id": ids[exam_id][key],
                "exam_id": exam_id, "path": question_path(q), "exercise": q.exercise.strip(), "part": q.part.strip(),
                "number": q.number.strip(), "question": q.text,
                "context": enriched_context or contexts[exam_id][key].context,
                "answer": answer.answer,
                "context_enriched": bool(enriched_context),
                # lineage: the exam's row in scholar_pdfs (its PDFs), with the pages below
                "source": "scholar", "source_id": f"{exam_id}#{question_path(q)}",
                "parent_asset": "scholar_pdfs", "parent_id": exam_id,
                "level": e["level"], "contest": e["contest"], "subject": e["subject"], "year": e["year"],
                "sujet_sha256": e["sujet_sha256"], "sujet_page_start": sujet_start, "sujet_page_end": sujet_end,
                "corrige_sha256": e["corrige_sha256"], "corrige_page_start": corrige_start, "corrige_page_end": corrige_end,
            })
    log(f"scholar: {len(items)} items extracted from {len(alive)}/{len(exams)} exams; "
        f"{sum(r['path'] is not None for r in rejects)} exercises/questions rejected")
    return ExtractionResult(items, rejects, steps)
