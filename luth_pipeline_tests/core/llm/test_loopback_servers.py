"""The loopback servers speak the real protocols: the official SDKs parse their replies."""

import json

import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from luth_pipeline_tests.servers import Completion, GeminiServer, OpenAIChatServer, Reply


def test_openai_server_scripted_reply_and_usage():
    with OpenAIChatServer(reply_fn=lambda r: Completion(f"réponse à {r.prompt}", finish_reason="length")) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)
        out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "deux mots"}])
        assert out.choices[0].message.content == "réponse à deux mots"
        assert out.choices[0].finish_reason == "length"
        assert out.usage.prompt_tokens == 2 and out.usage.completion_tokens == 4
        assert server.request_count == 1 and server.requests[0].json["model"] == "m"


def test_openai_server_faults_are_consumed_in_order():
    with OpenAIChatServer(hang_s=2) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0, timeout=0.3)
        server.inject(429, 500, Reply(hang=True))
        server.malformed_next()
        msgs = [{"role": "user", "content": "x"}]
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=msgs)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=msgs)
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=msgs)
        with pytest.raises(json.JSONDecodeError):
            client.chat.completions.create(model="m", messages=msgs)
        assert client.chat.completions.create(model="m", messages=msgs).choices[0].message.content == "écho : x"
        assert server.request_count == 5


def test_gemini_server_speaks_generate_content():
    with GeminiServer(reply_fn=lambda r: '{"ok": true}') as server:
        client = genai.Client(api_key="AIza-test", http_options=types.HttpOptions(base_url=server.url))
        config = types.GenerateContentConfig(system_instruction="Tu es un extracteur.", temperature=0.2,
                                             response_mime_type="application/json",
                                             response_json_schema={"type": "object"})
        out = client.models.generate_content(model="gemini-2.5-flash", contents="Bonjour", config=config)
        assert out.text == '{"ok": true}' and out.candidates[0].finish_reason == types.FinishReason.STOP
        request = server.requests[0]
        assert GeminiServer.model_of(request) == "gemini-2.5-flash"
        assert request.prompt == "Bonjour"
        assert request.json["generationConfig"]["responseJsonSchema"] == {"type": "object"}
        assert request.header("x-goog-api-key") == "AIza-test"
        server.fail_next(1, 503)
        with pytest.raises(genai_errors.ServerError) as err:
            client.models.generate_content(model="gemini-2.5-flash", contents="x")
        assert err.value.code == 503


def test_latency_and_peak_concurrency_are_recorded():
    from concurrent.futures import ThreadPoolExecutor

    with OpenAIChatServer(latency_s=0.05) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda i: client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}]), range(8)))
        assert server.request_count == 8
        assert 2 <= server.max_in_flight <= 4
        assert sorted(server.prompts()) == [str(i) for i in range(8)]
