"""OpenAI chat-completions protocol (what `vllm serve`, TGI and gateways expose)."""

from __future__ import annotations

import time

from luth_pipeline_tests.servers.base import Completion, LoopbackServer, RecordedRequest, Reply


def _text(content) -> str:
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


class OpenAIChatServer(LoopbackServer):
    """`POST /v1/chat/completions`; point `openai.OpenAI(base_url=server.url + "/v1")` at it."""

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/").endswith("/chat/completions")

    def parse_prompt(self, request: RecordedRequest) -> str:
        users = [m for m in request.json.get("messages", []) if m.get("role") == "user"]
        return _text(users[-1]["content"]) if users else ""

    def max_tokens_of(self, request: RecordedRequest) -> int | None:
        return request.json.get("max_completion_tokens") or request.json.get("max_tokens")

    def render_completion(self, request: RecordedRequest, completion: Completion) -> Reply:
        return Reply(json={
            "id": f"chatcmpl-loopback-{request.index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.json.get("model", ""),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "finish_reason": completion.finish_reason,
            }],
            "usage": {
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens,
            },
        })

    def render_error(self, status: int, message: str) -> Reply:
        kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "server_error")
        return Reply(status=status, json={"error": {"message": message, "type": kind, "code": status}})
