"""French filter: seeded langdetect (fast excerpt path + full-text fallback), length and empty-turn
filters, exact and MinHash near-deduplication, each a small step with its stats."""

# The profile package imports every stage's config module: load it first so that importing a
# submodule of this package directly (e.g. `...french.text`) does not hit a circular import.
import luth_pipeline.core.config  # noqa: F401, I001
from luth_pipeline.core.french.config import FrenchFilterConfig

# Everything else loads on first use: language-ID worker processes import only `langid`, not the
# dedup/polars stack (a spawned worker's start-up is part of the filter's wall time).
_LAZY = {
    "FilterResult": "filters", "StepStats": "filters", "default_steps": "filters", "run_filters": "filters",
    "LanguageScore": "langid", "LanguageScorer": "langid", "naive_probability": "langid",
    "full_probability": "langid", "score_texts": "langid",
}
__all__ = ["FrenchFilterConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
