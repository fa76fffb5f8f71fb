"""Gemini REST protocol (`generateContent`), as `google-genai` speaks it.

Point the SDK at it with
`genai.Client(api_key=..., http_options=types.HttpOptions(base_url=server.url))`.
`request.json` is the raw body the SDK sent (`contents`, `systemInstruction`,
`generationConfig` with `responseMimeType`/`responseSchema`/`responseJsonSchema`, ...), so tests can
assert on parts (text, inline images) and schemas.
"""

from __future__ import annotations

import re

from luth_pipeline_tests.servers.base import Completion, LoopbackServer, RecordedRequest, Reply

_ROUTE = re.compile(r"^/v1(beta|alpha)?\d*/models/(?P<model>[^/:]+):generateContent$")
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "safety": "SAFETY"}
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
           500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class GeminiServer(LoopbackServer):
    """`POST /v1beta/models/{model}:generateContent`."""

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and bool(_ROUTE.match(path))

    @staticmethod
    def model_of(request: RecordedRequest) -> str | None:
        match = _ROUTE.match(request.path.split("?")[0])
        return match.group("model") if match else None

    def parse_prompt(self, request: RecordedRequest) -> str:
        users = [c for c in request.json.get("contents", []) if c.get("role", "user") == "user"]
        if not users:
            return ""
        return "".join(part.get("text", "") for part in users[-1].get("parts", []))

    def max_tokens_of(self, request: RecordedRequest) -> int | None:
        return (request.json.get("generationConfig") or {}).get("maxOutputTokens")

    def render_completion(self, request: RecordedRequest, completion: Completion) -> Reply:
        return Reply(json={
            "candidates": [{
                "content": {"role": "model", "parts": [{"text": completion.text}]},
                "finishReason": _FINISH.get(completion.finish_reason, completion.finish_reason.upper()),
                "index": 0,
            }],
            "usageMetadata": {
                "promptTokenCount": completion.prompt_tokens,
                "candidatesTokenCount": completion.completion_tokens,
                "totalTokenCount": completion.prompt_tokens + completion.completion_tokens,
            },
            "modelVersion": self.model_of(request) or "",
        })

    def render_error(self, status: int, message: str) -> Reply:
        return Reply(status=status, json={"error": {"code": status, "message": message,
                                                    "status": _STATUS.get(status, "UNKNOWN")}})
