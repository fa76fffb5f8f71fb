"""The four-step extraction chain (upstream's `full_pipeline_async`), batched across exams.

Per exam: (1) questions from the subject, (2) each question's context from the subject,
(3) each answer from the official correction only, (4) contexts enriched with the results of
earlier questions. Each step is one request per exam; the requests of all exams go to the
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
from luth_pipeline.core.scholar.repair import ParsedReply, parse_reply
from luth_pipeline.core.scholar.schemas import (
    AnswerList,
    ContextList,
    EnrichedList,
    QuestionList,
    response_schema,
)

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
    truncated: int = 0  # finish_reason "length": the reply was cut, repair kept what was complete
    parse: collections.Counter = field(default_factory=collections.Counter)  # clean / latex_escapes / json_repair / failed
    dropped_items: int = 0


@dataclass
class ExtractionResult:
    items: list[dict]
    failures: list[dict]  # exam_id, step, reason
    steps: dict[str, StepStats]


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
        if not response.ok:  # a cut reply is a failure too: repairing it would keep a silently shorter list
            stats.truncated += response.status == "truncated"
            stats.parse["failed"] += response.status == "unparseable"
            stats.llm_errors += response.status not in ("truncated", "unparseable")
            reason = "unparseable reply" if response.status == "unparseable" else "LLM error"
            out.append((None, f"{reason}: {response.error}"))
            continue
        parsed = response.parsed
        stats.parse[parsed.method] += 1
        stats.dropped_items += parsed.dropped_items
        out.append((parsed, None))
    return out


def _questions_json(questions, **extra_fields: dict) -> str:
    rows = []
    for q in questions:
        row = {"number": q.number, "question": q.text}
        for name, values in extra_fields.items():
            row[name] = values.get(q.number, "")
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
    failures: list[dict] = []
    alive = {e.exam_id: e for e in exams}

    def fail(exam_id: str, step: str, reason: str) -> None:
        failures.append({"exam_id": exam_id, "step": step, "reason": reason})
        alive.pop(exam_id, None)
        log(f"  ✗ {exam_id} {step}: {reason}")

    # 1. questions, read from the subject (text + images of text-less pages)
    todo = list(alive.values())
    requests = [make_request(stage, prompts.render("questions", exam=e.label()), QuestionList, f"{e.exam_id}/questions",
                             document_parts(e.sujet, "SUJET")) for e in todo]
    questions: dict[str, list] = {}
    for exam, (parsed, error) in zip(todo, ask_structured(client, requests, QuestionList, steps["questions"], "scholar: questions")):
        if error or not parsed.value.questions:
            fail(exam.exam_id, "questions", error or "no question found in the subject")
        else:
            questions[exam.exam_id] = parsed.value.questions
    log(f"scholar step 1/4 questions: {sum(map(len, questions.values()))} questions from {len(questions)} exams")

    # 2. context of each question, from the subject
    todo = list(alive.values())
    requests = [make_request(stage, prompts.render("context", exam=e.label(), questions=_questions_json(questions[e.exam_id])),
                             ContextList, f"{e.exam_id}/context", document_parts(e.sujet, "SUJET")) for e in todo]
    contexts: dict[str, dict[str, str]] = {}
    for exam, (parsed, error) in zip(todo, ask_structured(client, requests, ContextList, steps["context"], "scholar: context")):
        # A missing context is not fatal: step 4 and the refinement pass can still supply one.
        contexts[exam.exam_id] = {} if error else {c.number: c.context for c in parsed.value.items}
        if error:
            log(f"  ! {exam.exam_id} context: {error} (continuing without contexts)")

    # 3. answers, from the official correction only
    todo = list(alive.values())
    requests = [make_request(stage, prompts.render("answers", exam=e.label(), questions=_questions_json(questions[e.exam_id])),
                             AnswerList, f"{e.exam_id}/answers", document_parts(e.corrige, "CORRIGÉ")) for e in todo]
    answers: dict[str, dict] = {}
    for exam, (parsed, error) in zip(todo, ask_structured(client, requests, AnswerList, steps["answers"], "scholar: answers")):
        if error:
            fail(exam.exam_id, "answers", error)
        else:
            answers[exam.exam_id] = {a.number: a for a in parsed.value.answers}
    log(f"scholar step 3/4 answers: {sum(map(len, answers.values()))} answers for {len(answers)} exams")

    # 4. contexts enriched with earlier results (text only: everything needed is in the JSON)
    todo = list(alive.values())
    requests = []
    for e in todo:
        found = {n: a.answer for n, a in answers[e.exam_id].items()}
        items = _questions_json(questions[e.exam_id], context=contexts[e.exam_id], reponse=found)
        requests.append(make_request(stage, prompts.render("enrich", exam=e.label(), items=items), EnrichedList, f"{e.exam_id}/enrich"))
    enriched: dict[str, dict[str, str]] = {}
    for exam, (parsed, error) in zip(todo, ask_structured(client, requests, EnrichedList, steps["enrich"], "scholar: enrich")):
        enriched[exam.exam_id] = {} if error else {c.number: c.context for c in parsed.value.items}
        if error:
            log(f"  ! {exam.exam_id} enrich: {error} (keeping the step-2 contexts)")

    items = []
    for exam in alive.values():
        e = exam.exam
        for index, q in enumerate(questions[exam.exam_id]):
            answer = answers[exam.exam_id].get(q.number)
            sujet_start, sujet_end = _page_range(q.pages, e["sujet_pages"])
            corrige_start, corrige_end = _page_range(answer.pages if answer else [], e["corrige_pages"])
            context = enriched[exam.exam_id].get(q.number) or contexts[exam.exam_id].get(q.number, "")
            items.append({
                "id": f"scholar/{exam.exam_id}/{index:03d}",
                "exam_id": exam.exam_id, "number": q.number, "question": q.text, "context": context,
                "answer": answer.answer if answer else "",
                "context_enriched": q.number in enriched[exam.exam_id],
                "level": e["level"], "contest": e["contest"], "subject": e["subject"], "year": e["year"],
                "sujet_sha256": e["sujet_sha256"], "sujet_page_start": sujet_start, "sujet_page_end": sujet_end,
                "corrige_sha256": e["corrige_sha256"], "corrige_page_start": corrige_start, "corrige_page_end": corrige_end,
            })
    log(f"scholar: {len(items)} items extracted from {len(alive)}/{len(exams)} exams")
    return ExtractionResult(items, failures, steps)
