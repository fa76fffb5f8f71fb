"""In-process loopback HTTP servers that speak real LLM protocols, for tests and benchmarks.

`OpenAIChatServer` speaks OpenAI chat-completions (`POST /v1/chat/completions`), `GeminiServer`
speaks the Gemini REST API (`POST /v1beta/models/{model}:generateContent`) so the official
`openai` and `google-genai` SDKs talk to them unchanged (point them at `server.url`).

Both share `LoopbackServer`: injectable latency, scripted replies through a callback, queued
faults (429/500/timeouts/malformed bodies), and a record of every request (count, arrival
times, peak concurrency) so tests can assert what the client really sent.
"""

from luth_pipeline_tests.servers.base import Completion, LoopbackServer, RecordedRequest, Reply
from luth_pipeline_tests.servers.gemini import GeminiServer
from luth_pipeline_tests.servers.openai_chat import OpenAIChatServer

__all__ = ["Completion", "GeminiServer", "LoopbackServer", "OpenAIChatServer", "RecordedRequest", "Reply"]
