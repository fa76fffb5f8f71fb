"""French filter: chat schema, length, the per-turn French rule (core/text/langid.py), exact and
MinHash near-deduplication, each a small step with its stats."""

# The profile package imports every stage's config module: load it first so that importing a
# submodule of this package directly does not hit a circular import.
import luth_pipeline.core.config  # noqa: F401, I001
from luth_pipeline.core.french.config import FrenchFilterConfig

# The filter chain (polars, datasketch, the language model) loads on first use: the profile only
# needs the config.
_LAZY = {"FilterResult": "filters", "StepStats": "filters", "default_steps": "filters", "run_filters": "filters"}
__all__ = ["FrenchFilterConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
