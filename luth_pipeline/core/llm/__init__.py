"""The LLM layer: one client, four backends (openai, gemini, vllm, transformers), a
content-addressed response cache, rate limits, retries and progress. No Dagster here.

Names are exported lazily, and `core.config` is imported first: the profile module imports
`core.llm.config`, which must not find this package half-initialized.
"""

import importlib

import luth_pipeline.core.config  # noqa: F401  (import order; see above)

_EXPORTS = {
    "FixtureResponseCache": "cache", "LayeredCache": "cache", "SQLiteResponseCache": "cache",
    "GenerationResult": "client", "GenerationStats": "client", "LLMClient": "client", "ReplyParser": "client",
    "judge_reply": "client", "json_schema_parser": "client",
    "EndpointConfig": "config", "LLMConfig": "config", "ReplyPolicy": "config", "StageLLMConfig": "config",
    "FailureRateExceeded": "errors", "LLMError": "errors", "LLMSetupError": "errors",
    "PermanentLLMError": "errors", "TransientLLMError": "errors",
    "build_client": "factory", "cache_path": "factory",
    "ProgressUpdate": "progress", "RateLimiter": "ratelimit",
    "LLMRequest": "types", "LLMResponse": "types",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
