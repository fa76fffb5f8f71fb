"""The LLM judge as the last filter step (upstream Luth src/data/filtering.py on openhermes-fr).

Each row that passed the other filters is sent as `QUESTION:\\n<user turns>\\n\\nANSWER:\\n<assistant
turns>` through the shared `LLMClient` (cache, retries, rate limits). "True" keeps the row, "False"
rejects it as `judge_false`; a reply with no verdict (unparsable, cut at max_tokens, no reply) is a
reject with that reason, never kept silently (core/llm/verdict.py, shared with the Tulu judge).
"""

from __future__ import annotations

from pathlib import Path

from luth_pipeline.core.french.filters import Rejection, Step
from luth_pipeline.core.llm.client import GenerationStats, LLMClient
from luth_pipeline.core.llm.types import LLMRequest
from luth_pipeline.core.llm.verdict import clean_reply, failed_verdict_reason, verdict_parser
from luth_pipeline.core.sources.config import SourceJudgeConfig
from luth_pipeline.core.text.chat import read_turns
from luth_pipeline.core.llm.prompts import PromptTemplate


def load_judge_template(path: Path, key: str) -> PromptTemplate:
    """The judge's prompt template; `key` names the profile setting in the error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{key}: prompt template {path} does not exist (a YAML file with `system` and `user`)")
    return PromptTemplate.load(path.parent, path.stem)


def pair_of(messages) -> tuple[str, str]:
    """The question (user turns) and the answer (assistant turns) of a chat; one-turn pairs such
    as openhermes-fr's prompt/accepted_completion are exactly upstream's two fields."""
    turns = read_turns(messages)
    return ("\n\n".join(text for _, role, text in turns if role == "user"),
            "\n\n".join(text for _, role, text in turns if role == "assistant"))


class LLMJudge(Step):
    name = "llm_judge"

    def __init__(self, client: LLMClient, stage: SourceJudgeConfig, template: PromptTemplate):
        self.client, self.stage, self.template = client, stage, template
        self.stats: GenerationStats | None = None  # the client's stats of the last `judge` call

    def requests(self, rows) -> list[LLMRequest]:
        s = self.stage
        out = []
        for row in rows:
            question, answer = pair_of(row["messages"])
            out.append(LLMRequest(model=s.model, messages=self.template.render(question=question, answer=answer),
                                  temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                                  enable_thinking=s.enable_thinking, row_id=row["id"]))
        return out

    def judge(self, rows):
        if not rows:
            return []
        result = self.client.generate(self.requests(rows), desc="judge", parse=verdict_parser)
        self.stats = result.stats
        out = []
        for reply in result.responses:
            if not reply.ok:
                out.append(Rejection(failed_verdict_reason(reply), reply.error or clean_reply(reply.text)[:200]))
            elif reply.parsed is False:
                out.append(Rejection("judge_false", clean_reply(reply.text)[:200]))
            else:
                out.append(None)
        return out
