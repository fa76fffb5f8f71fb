"""`tulu_prompts_fr` and `tulu_answers_fr`: translate prompts, regenerate answers, judge pairs.

Each step builds one request per row (the row id rides along for logs), sends them all through
the shared `LLMClient` (cache, retries, rate limits; responses come back in row order), then
checks every response and splits rows into kept data and rejects with a reason. A reply the
client did not judge `ok` (truncated at max_tokens even after the stage's retry with a larger
budget, unparseable, no reply) is a reject with that status as its reason, never data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from luth_pipeline.core.llm.client import GenerationStats, LLMClient
from luth_pipeline.core.llm.config import StageLLMConfig
from luth_pipeline.core.llm.progress import ProgressUpdate
from luth_pipeline.core.llm.types import ERROR, UNPARSEABLE, LLMRequest, LLMResponse
from luth_pipeline.core.llm.verdict import clean_reply, failed_verdict_reason, verdict_parser
from luth_pipeline.core.text.chat import MESSAGES_DTYPE as MESSAGES
from luth_pipeline.core.tulu.checks import format_mismatch, french_probability, is_refusal
from luth_pipeline.core.tulu.config import AnswerChecks, JudgeConfig, TranslationChecks
from luth_pipeline.core.llm.prompts import PromptTemplate

REJECT_SCHEMA = {"id": pl.String, "source_id": pl.String, "source": pl.String, "step": pl.String,
                 "reason": pl.String, "detail": pl.String, "text": pl.String}
_ECHOED_HEADER = re.compile(r"^\s*(PROMPT TO TRANSLATE|PROMPT À TRADUIRE|INVITE À TRADUIRE)\s*:\s*\n?", re.I)

Progress = Callable[[ProgressUpdate], None] | None


@dataclass
class StepResult:
    data: pl.DataFrame
    rejects: pl.DataFrame
    generation: dict[str, GenerationStats] = field(default_factory=dict)  # per LLM step

    @property
    def reasons(self) -> Counter:
        return Counter(self.rejects["reason"].to_list())


def _request(stage: StageLLMConfig, messages, row_id: str, max_tokens: int | None = None) -> LLMRequest:
    return LLMRequest(model=stage.model, messages=messages, temperature=stage.temperature, top_p=stage.top_p,
                      max_tokens=max_tokens or stage.max_tokens, enable_thinking=stage.enable_thinking, row_id=row_id)


def translation_requests(prompts: pl.DataFrame, stage: StageLLMConfig, template: PromptTemplate) -> list[LLMRequest]:
    return [_request(stage, template.render(prompt=row["prompt"]), row["id"]) for row in prompts.iter_rows(named=True)]


def answer_requests(prompts_fr: pl.DataFrame, stage: StageLLMConfig, template: PromptTemplate) -> list[LLMRequest]:
    return [_request(stage, template.render(prompt=row["prompt"]), row["id"]) for row in prompts_fr.iter_rows(named=True)]


def judge_requests(pairs: list[tuple[str, str, str]], stage: JudgeConfig, template: PromptTemplate) -> list[LLMRequest]:
    return [_request(stage, template.render(question=q, answer=a), row_id) for row_id, q, a in pairs]


def _reject(rejects: list, row: dict, step: str, reason: str, detail: str = "", text: str = "") -> None:
    rejects.append({"id": row["id"], "source_id": row["source_id"], "source": row["source"], "step": step,
                    "reason": reason, "detail": detail, "text": text[:2000]})


def _reject_failed(rejects: list, row: dict, step: str, response: LLMResponse) -> None:
    """A reply that is not ok: its status is the reason (`truncated`, `unparseable`,
    `incomplete`), or `llm_error` when no reply came back."""
    reason = "llm_error" if response.status == ERROR else response.status
    _reject(rejects, row, step, reason, response.error or "", clean_reply(response.text))


def translate_prompts(prompts: pl.DataFrame, client: LLMClient, stage: StageLLMConfig, template: PromptTemplate,
                      checks: TranslationChecks, on_progress: Progress = None) -> StepResult:
    result = client.generate(translation_requests(prompts, stage, template), desc="translate", on_progress=on_progress)
    kept, rejects = [], []
    for row, response in zip(prompts.iter_rows(named=True), result.responses, strict=True):
        if not response.ok:
            _reject_failed(rejects, row, "translate", response)
            continue
        text = _ECHOED_HEADER.sub("", clean_reply(response.text))
        if not text:
            _reject(rejects, row, "translate", "empty")
            continue
        p_fr = french_probability(text)
        if p_fr < checks.min_french_probability:
            _reject(rejects, row, "translate", "not_french", f"p(fr)={p_fr:.2f}", text)
            continue
        ratio = len(text) / max(1, len(row["prompt"]))
        if not checks.min_length_ratio <= ratio <= checks.max_length_ratio:
            _reject(rejects, row, "translate", "length_ratio", f"{ratio:.2f} outside "
                    f"[{checks.min_length_ratio}, {checks.max_length_ratio}]", text)
            continue
        lost = format_mismatch(row["prompt"], text)
        if lost:
            _reject(rejects, row, "translate", "format_changed", lost, text)
            continue
        kept.append({
            "id": f"tulu_prompts_fr/{row['source_id']}", "source": row["source"], "source_id": row["source_id"],
            "prompt": text, "prompt_en": row["prompt"], "constraints": row["constraints"],
            "parent_asset": "tulu_prompts", "parent_id": row["id"], "french_probability": round(p_fr, 4),
            "length_ratio": round(ratio, 3), "completion_tokens": response.completion_tokens, "cached": response.cached,
        })
    schema = {"id": pl.String, "source": pl.String, "source_id": pl.String, "prompt": pl.String, "prompt_en": pl.String,
              "constraints": pl.List(pl.String), "parent_asset": pl.String, "parent_id": pl.String,
              "french_probability": pl.Float64, "length_ratio": pl.Float64, "completion_tokens": pl.Int64,
              "cached": pl.Boolean}
    return StepResult(pl.DataFrame(kept, schema=schema), pl.DataFrame(rejects, schema=REJECT_SCHEMA),
                      {"translate": result.stats})


def answer_prompts(prompts_fr: pl.DataFrame, client: LLMClient, stage: StageLLMConfig, template: PromptTemplate,
                   checks: AnswerChecks, judge_client: LLMClient | None = None, judge: JudgeConfig | None = None,
                   judge_template: PromptTemplate | None = None, on_progress: Progress = None) -> StepResult:
    result = client.generate(answer_requests(prompts_fr, stage, template), desc="answer", on_progress=on_progress)
    stats = {"answer": result.stats}
    candidates, rejects = [], []
    for row, response in zip(prompts_fr.iter_rows(named=True), result.responses, strict=True):
        text = clean_reply(response.text)
        if not response.ok:
            _reject_failed(rejects, row, "answer", response)
        elif len(text) < checks.min_chars:
            _reject(rejects, row, "answer", "empty", text=text)
        elif checks.drop_refusals and is_refusal(text):
            _reject(rejects, row, "answer", "refusal", text=text)
        elif (p_fr := french_probability(text)) < checks.min_french_probability:
            _reject(rejects, row, "answer", "not_french", f"p(fr)={p_fr:.2f}", text)
        else:
            candidates.append((row, text, response, p_fr))

    # the judge's reply per candidate (None: no judge); a verdict is ok only when complete and readable
    judged_replies: list[LLMResponse | None] = [None] * len(candidates)
    if judge is not None and judge.enabled and candidates:
        if judge_client is None or judge_template is None:
            raise ValueError("the judge is enabled but no judge client/template was given")
        pairs = [(row["id"], row["prompt"], text) for row, text, _, _ in candidates]
        judged = judge_client.generate(judge_requests(pairs, judge, judge_template), desc="judge",
                                       on_progress=on_progress, parse=verdict_parser)
        stats["judge"] = judged.stats
        judged_replies = judged.responses

    kept = []
    for (row, text, response, p_fr), reply in zip(candidates, judged_replies, strict=True):
        verdict = reply.parsed if reply is not None and reply.ok else None
        raw = reply.text if reply is not None else None
        if reply is not None and not reply.ok:
            if reply.status == UNPARSEABLE and judge.keep_unparsable:
                pass  # kept without a verdict, as configured
            else:
                _reject(rejects, row, "judge", failed_verdict_reason(reply), reply.error or "", text)
                continue
        if verdict is False:
            _reject(rejects, row, "judge", "judge_false", clean_reply(raw or ""), text)
            continue
        kept.append({
            "id": f"{row['source']}/{row['source_id']}",
            "messages": [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": text}],
            "source": row["source"], "source_id": row["source_id"],
            "parent_asset": "tulu_prompts_fr", "parent_id": row["id"],
            "answer_french_probability": round(p_fr, 4), "finish_reason": response.finish_reason,
            "completion_tokens": response.completion_tokens, "judge_verdict": verdict,
            "judge_raw": clean_reply(raw) if raw else None, "cached": response.cached,
        })
    schema = {"id": pl.String, "messages": MESSAGES, "source": pl.String, "source_id": pl.String,
              "parent_asset": pl.String, "parent_id": pl.String, "answer_french_probability": pl.Float64,
              "finish_reason": pl.String, "completion_tokens": pl.Int64, "judge_verdict": pl.Boolean,
              "judge_raw": pl.String, "cached": pl.Boolean}
    return StepResult(pl.DataFrame(kept, schema=schema), pl.DataFrame(rejects, schema=REJECT_SCHEMA), stats)
