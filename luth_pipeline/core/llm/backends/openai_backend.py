"""Any OpenAI-compatible chat-completions server (`vllm serve`, TGI, gateways, OpenAI)."""

from __future__ import annotations

import json
import time

import httpx
import openai

from luth_pipeline.core.llm.backends.base import LLMBackend
from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.core.llm.errors import LLMSetupError, PermanentLLMError, TransientLLMError, classify_status
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse, Message


def _openai_content(content):
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") == "image":
            url = f"data:{part['mime_type']};base64,{part['data_b64']}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            parts.append({"type": "text", "text": part["text"]})
    return parts


def _openai_messages(messages: tuple[Message, ...]) -> list[dict]:
    return [{"role": m["role"], "content": _openai_content(m["content"])} for m in messages]


class OpenAIBackend(LLMBackend):
    sends_through_gate = True

    def __init__(self, name: str, endpoint: EndpointConfig, api_key: str | None):
        super().__init__(name, endpoint)
        if endpoint.base_url is None and not api_key:
            raise LLMSetupError(f"endpoint {name!r} (openai) has no base_url and no API key: set "
                                f"{endpoint.api_key_env or 'api_key_env'} or point base_url at your server")
        # Retries are ours (tenacity in the client), so the SDK must not retry on its own.
        self.client = openai.OpenAI(
            base_url=endpoint.base_url, api_key=api_key or "EMPTY", max_retries=0, timeout=endpoint.timeout_s,
            http_client=httpx.Client(limits=httpx.Limits(max_connections=endpoint.max_concurrency,
                                                         max_keepalive_connections=endpoint.max_concurrency),
                                     timeout=endpoint.timeout_s, event_hooks={"request": [self.before_send]}),
        )

    def generate(self, request: LLMRequest) -> LLMResponse:
        kwargs: dict = {}
        if self.endpoint.send_chat_template_kwargs:
            kwargs["extra_body"] = {"chat_template_kwargs": {"enable_thinking": request.enable_thinking}}
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "response", "schema": request.json_schema}}
        started = time.monotonic()
        try:
            out = self.client.chat.completions.create(
                model=request.model, messages=_openai_messages(request.messages), temperature=request.temperature,
                top_p=request.top_p, max_tokens=request.max_tokens, **kwargs,
            )
        except openai.APITimeoutError as exc:
            raise TransientLLMError(f"timed out after {self.endpoint.timeout_s}s", "timeout") from exc
        except openai.APIConnectionError as exc:
            raise TransientLLMError(f"connection failed: {exc}", "connection_error") from exc
        except openai.APIStatusError as exc:
            raise classify_status(exc.status_code, exc.message) from exc
        except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
            raise TransientLLMError(f"malformed response body: {exc}", "malformed_response") from exc
        if not getattr(out, "choices", None):
            raise TransientLLMError("response has no choices", "malformed_response")
        choice = out.choices[0]
        text = choice.message.content if choice.message is not None else None
        if text is None:
            raise PermanentLLMError(f"empty message (finish_reason={choice.finish_reason})", "empty_message")
        usage = out.usage
        return LLMResponse(
            text=text, finish_reason=choice.finish_reason or "stop",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=time.monotonic() - started,
        )

    def close(self) -> None:
        self.client.close()
