"""Build an `LLMClient` for one stage from the profile: endpoint, cache layers, keys, model paths."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from luth_pipeline.core.llm.backends import make_backend
from luth_pipeline.core.llm.cache import FixtureResponseCache, LayeredCache, SQLiteResponseCache
from luth_pipeline.core.llm.client import LLMClient
from luth_pipeline.core.llm.config import EndpointConfig, LLMConfig, StageLLMConfig
from luth_pipeline.core.llm.errors import LLMSetupError
from luth_pipeline.core.llm.ratelimit import RateLimiter

if TYPE_CHECKING:
    from luth_pipeline.core.config import Profile

CACHE_FILE = "responses.sqlite"


def cache_path(llm: LLMConfig, work_dir: Path) -> Path:
    return Path(work_dir) / llm.cache_dir / CACHE_FILE


def endpoint_of(llm: LLMConfig, stage: StageLLMConfig) -> EndpointConfig:
    if stage.endpoint not in llm.endpoints:
        known = ", ".join(sorted(llm.endpoints)) or "none"
        raise LLMSetupError(f"stage asks for LLM endpoint {stage.endpoint!r}, which `llm.endpoints` in the profile "
                            f"does not define (known: {known})")
    return llm.endpoints[stage.endpoint]


def api_key_for(endpoint: EndpointConfig, api_keys: Mapping[str, str | None] | None) -> str | None:
    """The key named by `endpoint.api_key_env`: from `api_keys` when it holds that variable
    (Dagster passes the `dg.EnvVar`-backed values of `LLMClientResource`), else from the process
    environment (a gateway's own variable, scripts, benchmarks)."""
    if not endpoint.api_key_env:
        return None
    if api_keys is not None and endpoint.api_key_env in api_keys:
        return api_keys[endpoint.api_key_env] or None
    return os.environ.get(endpoint.api_key_env) or None


def build_client(profile: "Profile", stage: StageLLMConfig, *, api_keys: Mapping[str, str | None] | None = None,
                 logger: logging.Logger | None = None) -> LLMClient:
    llm = profile.llm
    endpoint = endpoint_of(llm, stage)
    api_key = api_key_for(endpoint, api_keys)
    if endpoint.backend == "gemini" and not api_key:
        raise LLMSetupError(f"endpoint {stage.endpoint!r} (gemini) needs an API key: export "
                            f"{endpoint.api_key_env or 'GEMINI_API_KEY'} before running the stage")

    def resolve_model(model: str) -> str:
        if model in profile.base_models:
            from luth_pipeline.core.models import resolve_base_model

            return resolve_base_model(model, profile.base_models[model], profile.work_path)
        return model

    fixtures = FixtureResponseCache([profile.resolve_path(p) for p in llm.fixture_caches]) if llm.fixture_caches else None
    cache = LayeredCache(SQLiteResponseCache(cache_path(llm, profile.work_path)), fixtures)
    return LLMClient(
        make_backend(stage.endpoint, endpoint, api_key, resolve_model), cache,
        limiter=RateLimiter(endpoint.requests_per_minute, endpoint.tokens_per_minute),
        max_retries=endpoint.max_retries, backoff_initial_s=endpoint.backoff_initial_s,
        backoff_max_s=endpoint.backoff_max_s, secrets=[api_key] if api_key else [],
        progress_every_s=llm.progress_every_s, logger=logger,
        prices=llm.prices, policy=stage.on_bad_reply,
    )
