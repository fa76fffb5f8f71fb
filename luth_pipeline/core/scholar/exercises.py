"""Extracted items → refined, filtered, labelled chat exercises (the `luth_scholar` split).

1. Items without an answer are rejected before refinement: the refinement model would
   otherwise invent one.
2. Refinement (upstream's `clean_sample`, Gemini 2.5 Pro in the report): fix French and LaTeX,
   complete the context, rewrite the answer step by step; it also labels difficulty and says
   whether a figure is needed.
3. The anomaly filter (`anomalies.check_exercise`) on the refined text.
4. Chat format: user = context + question, assistant = the worked answer.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field

from luth_pipeline.core.llm.config import StageLLMConfig
from luth_pipeline.core.scholar.anomalies import DuplicateIndex, check_exercise
from luth_pipeline.core.scholar.chain import LLMClientLike, Prompts, StepStats, ask_structured, make_request
from luth_pipeline.core.scholar.config import ScholarConfig
from luth_pipeline.core.scholar.schemas import RefinedExercise

SOURCE = "scholar"
PARENT_ASSET = "scholar_extractions"


def exam_label(item: dict) -> str:
    return f"{item['exam_id']} ({item['level']}, {item['contest']}, {item['subject']}, {item['year']})"


def refine_request(item: dict, stage: StageLLMConfig, prompts: Prompts):
    prompt = prompts.render(
        "refine", exam=exam_label(item), path=item["path"], context=item["context"] or "(aucun)",
        question=item["question"], answer=item["answer"],
    )
    return make_request(stage, prompt, RefinedExercise, f"{item['id']}/refine")


def user_turn(context: str, question: str) -> str:
    return f"{context.strip()}\n\n{question.strip()}" if context.strip() else question.strip()


@dataclass
class ExercisesResult:
    rows: list[dict]
    rejects: list[dict]
    refine: StepStats
    counts: dict[str, int] = field(default_factory=dict)  # per step: items in, refined, kept


def build_exercises(items: list[dict], client: LLMClientLike, config: ScholarConfig, prompts: Prompts,
                    log: Callable[[str], None] = print) -> ExercisesResult:
    rejects: list[dict] = []

    def reject(item: dict, reason: str, refined: dict | None = None) -> None:
        rejects.append({
            "id": item["id"], "exam_id": item["exam_id"], "path": item["path"], "subject": item["subject"],
            "question": (refined or item)["question"], "answer": (refined or item)["answer"], "reason": reason,
        })

    to_refine = []
    for item in items:
        if not item["question"].strip():
            reject(item, "empty: no question")
        elif len(item["answer"].strip()) < config.filters.min_answer_chars:
            reject(item, "answerless: the correction gives no answer")
        else:
            to_refine.append(item)

    stats = StepStats()
    requests = [refine_request(item, config.refinement, prompts) for item in to_refine]
    refined_rows = []
    for item, (parsed, error) in zip(to_refine, ask_structured(client, requests, RefinedExercise, stats, "scholar: refine")):
        if error:
            reject(item, f"refinement: {error}")
            continue
        r = parsed.value
        refined_rows.append({**item, "question": r.question, "context": r.context, "answer": r.answer,
                             "difficulty": r.difficulty, "needs_figure": r.needs_figure})
    log(f"scholar refine: {len(refined_rows)}/{len(to_refine)} items refined")

    duplicates = DuplicateIndex(config.filters.near_duplicate_threshold)
    rows = []
    for row in refined_rows:
        reason = check_exercise(row, config.filters, duplicates)
        if reason:
            reject(row, reason, refined=row)
            continue
        difficulty = row["difficulty"] or config.difficulty_by_level.get(row["level"], "medium")
        rows.append({
            "id": row["id"],
            "messages": [
                {"role": "user", "content": user_turn(row["context"], row["question"])},
                {"role": "assistant", "content": row["answer"].strip()},
            ],
            "source": SOURCE,
            "source_id": f"{row['exam_id']}#{row['path']}",
            "parent_asset": PARENT_ASSET,
            "parent_id": row["id"],
            "subject": row["subject"],
            "difficulty": difficulty,
            "level": row["level"], "contest": row["contest"], "year": row["year"],
            "sujet_sha256": row["sujet_sha256"], "sujet_page_start": row["sujet_page_start"],
            "sujet_page_end": row["sujet_page_end"], "corrige_sha256": row["corrige_sha256"],
            "corrige_page_start": row["corrige_page_start"], "corrige_page_end": row["corrige_page_end"],
            "filters_passed": ["answer", "refined", "latex", "language", "figure", "restatement", "duplicate"],
        })
    counts = {"extracted": len(items), "sent_to_refinement": len(to_refine), "refined": len(refined_rows), "kept": len(rows)}
    log(f"scholar exercises: kept {len(rows)}/{len(items)}; rejects by check: "
        + ", ".join(f"{k}={v}" for k, v in reject_counts(rejects).items()))
    return ExercisesResult(rows, rejects, stats, counts)


def reject_counts(rejects: list[dict]) -> dict[str, int]:
    return dict(collections.Counter(r["reason"].split(":", 1)[0] for r in rejects).most_common())


def subject_mix(rows: list[dict]) -> dict[str, float]:
    counts = collections.Counter(r["subject"] for r in rows)
    total = sum(counts.values())
    return {s: n / total for s, n in counts.most_common()} if total else {}
