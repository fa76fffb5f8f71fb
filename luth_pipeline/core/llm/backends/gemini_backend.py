"""Gemini through google-genai (the Scholar stage's extractor; any stage may use it)."""

from __future__ import annotations

import base64
import json
import time

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from luth_pipeline.core.llm.backends.base import LLMBackend, text_of
from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.core.llm.errors import LLMSetupError, PermanentLLMError, TransientLLMError, classify_status
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


def _parts(content) -> list[types.Part]:
    if isinstance(content, str):
        return [types.Part.from_text(text=content)]
    parts = []
    for part in content:
        if part.get("type") == "image":
            parts.append(types.Part.from_bytes(data=base64.b64decode(part["data_b64"]), mime_type=part["mime_type"]))
        else:
            parts.append(types.Part.from_text(text=part["text"]))
    return parts


class GeminiBackend(LLMBackend):
    sends_through_gate = True

    def __init__(self, name: str, endpoint: EndpointConfig, api_key: str | None):
        super().__init__(name, endpoint)
        if not api_key:
            raise LLMSetupError(f"endpoint {name!r} (gemini) needs an API key: export "
                                f"{endpoint.api_key_env or 'GEMINI_API_KEY'} (and set `api_key_env` in the profile)")
        # No SDK retries (retry_options=None): the client's tenacity policy owns retrying.
        options = types.HttpOptions(base_url=endpoint.base_url, timeout=int(endpoint.timeout_s * 1000),
                                    client_args={"event_hooks": {"request": [self.before_send]}})
        self.client = genai.Client(api_key=api_key, http_options=options)

    def _config(self, request: LLMRequest, system: str | None) -> types.GenerateContentConfig:
        config: dict = {"temperature": request.temperature, "top_p": request.top_p,
                        "max_output_tokens": request.max_tokens,
                        # plain generation: no tool calls to resolve (and no per-call log line about it)
                        "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True)}
        if system:
            config["system_instruction"] = system
        if request.json_schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = request.json_schema
        if self.endpoint.thinking_budget is not None:
            config["thinking_config"] = types.ThinkingConfig(thinking_budget=self.endpoint.thinking_budget)
        return types.GenerateContentConfig(**config)

    def generate(self, request: LLMRequest) -> LLMResponse:
        system = "\n\n".join(text_of(m["content"]) for m in request.messages if m["role"] == "system") or None
        contents = [types.Content(role="model" if m["role"] == "assistant" else "user", parts=_parts(m["content"]))
                    for m in request.messages if m["role"] != "system"]
        started = time.monotonic()
        try:
            out = self.client.models.generate_content(model=request.model, contents=contents,
                                                      config=self._config(request, system))
        except genai_errors.APIError as exc:
            raise classify_status(exc.code or 500, str(exc.message or exc)) from exc
        except httpx.TimeoutException as exc:
            raise TransientLLMError(f"timed out after {self.endpoint.timeout_s}s", "timeout") from exc
        except httpx.TransportError as exc:
            raise TransientLLMError(f"connection failed: {exc}", "connection_error") from exc
        except (json.JSONDecodeError, ValueError) as exc:
            raise TransientLLMError(f"malformed response body: {exc}", "malformed_response") from exc
        if not out.candidates:
            reason = out.prompt_feedback.block_reason if out.prompt_feedback else "no candidates"
            raise PermanentLLMError(f"prompt refused: {reason}", "blocked")
        candidate = out.candidates[0]
        finish = candidate.finish_reason.value if candidate.finish_reason else "STOP"
        text = "".join(p.text or "" for p in (candidate.content.parts or []) if not p.thought) if candidate.content else ""
        usage = out.usage_metadata
        return LLMResponse(
            text=text, finish_reason=_FINISH.get(finish, finish.lower()),
            prompt_tokens=(usage.prompt_token_count or 0) if usage else 0,
            completion_tokens=(usage.candidates_token_count or 0) if usage else 0,
            latency_s=time.monotonic() - started,
        )

    def close(self) -> None:
        self.client.close()
