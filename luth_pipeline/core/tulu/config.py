"""Settings of the `tulu` stage: which Tulu 3 persona sets, which LLM does each step, checks."""

from __future__ import annotations

from pydantic import Field

from luth_pipeline.core.config.base import StrictModel
from luth_pipeline.core.llm.config import StageLLMConfig


class TuluSourceConfig(StrictModel):
    """One Tulu 3 persona dataset (real schema: `id`, `prompt`, `messages`[, `constraints`])."""

    hf_id: str
    source: str  # the `source` label of the output rows, e.g. tulu3_persona_instruct
    split: str = "train"
    # Local JSON/JSONL files in the dataset's schema (fixtures); unset = the hub dataset.
    data_files: list[str] | None = None
    streaming: bool = False
    max_rows: int | None = Field(None, ge=1)


class TranslationChecks(StrictModel):
    # The lowest French probability of any paragraph (core/text/langid.py: fastText, code/LaTeX/URLs stripped)
    min_french_probability: float = Field(0.5, ge=0, le=1)
    min_length_ratio: float = Field(0.5, gt=0)  # len(french) / len(english), in characters
    max_length_ratio: float = Field(2.5, gt=0)


class AnswerChecks(StrictModel):
    min_french_probability: float = Field(0.5, ge=0, le=1)
    min_chars: int = Field(2, ge=1)
    drop_refusals: bool = True


class JudgeConfig(StageLLMConfig):
    """Upstream's LLM judge (True/False) on the final pair, as a filter that can be turned off."""

    enabled: bool = True
    keep_unparsable: bool = False  # a verdict that is neither True nor False drops the row unless set


class TuluConfig(StrictModel):
    sources: dict[str, TuluSourceConfig] = {}
    prompts_dir: str = "configs/prompts"
    translate: StageLLMConfig | None = None
    answer: StageLLMConfig | None = None
    judge: JudgeConfig | None = None
    translation_checks: TranslationChecks = TranslationChecks()
    answer_checks: AnswerChecks = AnswerChecks()
    preview_rows: int = Field(5, ge=0)
