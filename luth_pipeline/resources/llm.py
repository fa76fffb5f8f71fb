import contextlib
import logging
import os
from collections.abc import Iterator

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.llm.client import LLMClient
from luth_pipeline.core.llm.config import StageLLMConfig
from luth_pipeline.core.llm.factory import build_client

# Environment variables Dagster reads the keys from (an endpoint names one in `api_key_env`).
KEY_ENV_VARS = {"openai_api_key": "OPENAI_API_KEY", "gemini_api_key": "GEMINI_API_KEY"}


class LLMClientResource(dg.ConfigurableResource):
    """API keys of the LLM endpoints and a factory for the shared, cached `LLMClient`.

    Keys come only from the environment through `dg.EnvVar` (the UI shows the variable's name,
    never its value); a client masks them in every error it logs or records.
    """

    openai_api_key: str | None = None
    gemini_api_key: str | None = None

    @classmethod
    def from_env(cls) -> "LLMClientResource":
        """Bind each key to its `dg.EnvVar` when the variable is set (an unset EnvVar is an error
        at launch even for runs that never call that backend)."""
        return cls(**{field: dg.EnvVar(var) for field, var in KEY_ENV_VARS.items() if os.environ.get(var)})

    def api_keys(self) -> dict[str, str | None]:
        return {var: getattr(self, field) for field, var in KEY_ENV_VARS.items()}

    @contextlib.contextmanager
    def client(self, profile: Profile, stage: StageLLMConfig, logger: logging.Logger | None = None) -> Iterator[LLMClient]:
        client = build_client(profile, stage, api_keys=self.api_keys(), logger=logger)
        try:
            yield client
        finally:
            client.close()
