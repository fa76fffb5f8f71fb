"""Upstream's True/False LLM judge (Luth src/data/cleaning.py, filtering.py): reading a verdict
and naming why a judge reply is no verdict. Shared by the Tulu judge and the per-source judge."""

from __future__ import annotations

import re

from luth_pipeline.core.llm.types import ERROR, UNPARSEABLE, LLMResponse

_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.S)


def clean_reply(text: str) -> str:
    """Drop an empty `<think></think>` block (Qwen3, thinking off) and surrounding whitespace."""
    return _THINK.sub("", text).strip()


def parse_verdict(text: str) -> bool | None:
    """Upstream's rule: "true" anywhere → keep, "false" → drop; neither → unparsable (None)."""
    lowered = clean_reply(text).lower()
    has_true, has_false = "true" in lowered or "vrai" in lowered, "false" in lowered or "faux" in lowered
    return None if has_true == has_false else has_true


def verdict_parser(text: str) -> bool:
    """The judge's parser for the LLM client: a reply without a verdict is `unparseable`."""
    verdict = parse_verdict(text)
    if verdict is None:
        raise ValueError(f"no True/False verdict in {clean_reply(text)[:80]!r}")
    return verdict


def failed_verdict_reason(reply: LLMResponse) -> str:
    """Why a judge reply that is not ok gives no verdict: `judge_unparsable`, `judge_truncated`
    (cut at max_tokens even after the retry), `judge_incomplete`, or `llm_error` (no reply)."""
    if reply.status == ERROR:
        return "llm_error"
    return "judge_unparsable" if reply.status == UNPARSEABLE else f"judge_{reply.status}"
