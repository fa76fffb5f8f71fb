"""French filter: seeded langdetect (fast excerpt path + full-text fallback), length and empty-turn
filters, exact and MinHash near-deduplication, each a small step with its stats."""

# The profile package imports every stage's config module: load it first so that importing a
# submodule of this package directly (e.g. `...french.text`) does not hit a circular import.
import luth_pipeline.core.config  # noqa: F401, I001
from luth_pipeline.core.french.config import FrenchFilterConfig
from luth_pipeline.core.french.filters import FilterResult, StepStats, default_steps, run_filters
from luth_pipeline.core.french.langid import LanguageScore, LanguageScorer, naive_probability, score_texts

__all__ = ["FilterResult", "FrenchFilterConfig", "LanguageScore", "LanguageScorer", "StepStats", "default_steps",
           "naive_probability", "run_filters", "score_texts"]
