"""The Tulu stage: Tulu 3 persona prompts → French translations → regenerated French answers
(+ upstream's LLM judge). Pure Python over the shared LLM client; no Dagster here."""

import luth_pipeline.core.config  # noqa: F401  (import order: the profile imports core.tulu.config)
