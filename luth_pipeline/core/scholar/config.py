"""Settings of the `scholar` stage: exam PDFs → Gemini extraction → refined, filtered exercises."""

from __future__ import annotations

from pydantic import Field

from luth_pipeline.core.config.base import StrictModel
from luth_pipeline.core.llm.config import StageLLMConfig

# Subject mix of the published Scholar split (Luth report): the exercises' mix is plotted against it.
REPORT_SUBJECT_MIX = {
    "maths": 0.67,
    "physics-chemistry": 0.11,
    "computer-science": 0.09,
    "engineering-science": 0.06,
    "biology": 0.055,
    "other": 0.015,
}


class DownloadConfig(StrictModel):
    """How PDFs listed by URL are fetched."""

    max_bytes: int = 40_000_000
    # A server answering text/html for a .pdf URL is a login wall or an error page, not an exam.
    allowed_content_types: list[str] = [
        "application/pdf",
        "application/x-pdf",
        "application/octet-stream",
        "binary/octet-stream",
    ]
    timeout_s: float = 30.0
    attempts: int = 4
    backoff_s: float = 1.0  # first retry delay; doubles each attempt (with jitter)
    concurrency: int = 4
    user_agent: str = "luth-pipeline-scholar/0.1"


class PdfLimits(StrictModel):
    """What a PDF must satisfy to be extracted."""

    max_pages: int = 60
    # A page with fewer characters than this has no usable text layer: it is sent as an image.
    min_text_chars: int = 40
    render_dpi: int = 110
    max_image_pages: int = 8  # page images sent per document, at most
    # MuPDF silently rebuilds a broken xref table; pages may be missing, so such files are
    # rejected unless this is set.
    accept_repaired: bool = False
    # A document with no text layer on any page is a scan: every page would go as an image.
    allow_scanned: bool = False


class FilterConfig(StrictModel):
    """The anomaly filter applied to refined exercises."""

    min_french_probability: float = 0.5  # per paragraph, fastText (core/text/langid.py)
    # Answer ≥ this similar to the question (token Jaccard) restates it instead of answering.
    restatement_similarity: float = 0.8
    near_duplicate_threshold: float = 0.85  # MinHash Jaccard between question+answer texts
    min_answer_chars: int = 2
    # A question mentioning one of these needs a figure the text does not carry.
    figure_patterns: list[str] = [
        r"\bfigure\s*\d*\b",
        r"\bsch[ée]ma\b",
        r"\bci-contre\b",
        r"\bci-dessous\b.*\b(graphique|courbe|figure|sch[ée]ma|photo)",
        r"\b(graphique|courbe|photographie|document)\s+\d+\b",
        r"\bannexe\b",
    ]


class ScholarConfig(StrictModel):
    # Which exams: a YAML manifest (URLs and/or local folder globs + exam metadata).
    manifest: str = "configs/scholar/manifest.local.yaml"
    download: DownloadConfig = DownloadConfig()
    pdf: PdfLimits = PdfLimits()
    # The shared LLM client's endpoint (`llm.endpoints`) and model of each pass. Upstream's scripts
    # call gemini-2.5-flash-lite for both (asynchronous_calls_extraction.py, asynchronous_calls_clean.py).
    extraction: StageLLMConfig = StageLLMConfig(
        endpoint="gemini", model="gemini-2.5-flash-lite", temperature=0.0, top_p=0.95, max_tokens=8192)
    refinement: StageLLMConfig = StageLLMConfig(
        endpoint="gemini", model="gemini-2.5-flash-lite", temperature=0.2, top_p=0.95, max_tokens=4096)
    prompts_dir: str = "configs/prompts/scholar"
    filters: FilterConfig = FilterConfig()
    # Difficulty when the refinement model gives none: by exam level.
    difficulty_by_level: dict[str, str] = {"Bac": "medium", "CPGE": "hard"}
    reference_subject_mix: dict[str, float] = Field(default_factory=lambda: dict(REPORT_SUBJECT_MIX))
    # Stage fails when more than this share of exams fails extraction (LLM errors, unparseable).
    max_failed_exam_share: float = 0.5
