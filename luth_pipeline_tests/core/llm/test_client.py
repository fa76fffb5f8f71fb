"""LLMClient against the loopback servers with the real openai / google-genai SDKs."""

import bisect
import logging
import random
import sqlite3
import threading
import time

import pytest

from luth_pipeline.core.llm.backends import make_backend
from luth_pipeline.core.llm.backends.base import LLMBackend
from luth_pipeline.core.llm.cache import FixtureResponseCache, LayeredCache, SQLiteResponseCache, request_to_json
from luth_pipeline.core.llm.client import LLMClient
from luth_pipeline.core.llm.config import EndpointConfig, ModelPrice
from luth_pipeline.core.llm.errors import FailureRateExceeded, LLMSetupError
from luth_pipeline.core.llm.ratelimit import RateLimiter, TokenBucket
from luth_pipeline.core.llm.types import LLMRequest, LLMResponse
from luth_pipeline_tests.servers import Completion, GeminiServer, OpenAIChatServer, Reply


def _requests(n, model="m", **kw):
    return [LLMRequest(model=model, messages=({"role": "user", "content": f"question {i}"},), row_id=f"row/{i}", **kw)
            for i in range(n)]


def _client(server, tmp_path=None, key="sk-test-0123456789", concurrency=8, retries=3, limiter=None, **kw):
    endpoint = EndpointConfig(backend="openai", base_url=server.url + "/v1", max_concurrency=concurrency, timeout_s=0.5)
    cache = LayeredCache(SQLiteResponseCache(tmp_path / "cache.sqlite")) if tmp_path else None
    return LLMClient(make_backend("loop", endpoint, key), cache, limiter=limiter, max_retries=retries,
                     backoff_initial_s=0.01, backoff_max_s=0.05, secrets=[key], progress_every_s=0.1, **kw)


def test_results_come_back_in_input_order_with_bounded_concurrency(tmp_path):
    rng = random.Random(0)
    with OpenAIChatServer(reply_fn=lambda r: f"réponse à {r.prompt}", latency_s=lambda r: rng.uniform(0, 0.03)) as server:
        result = _client(server, tmp_path, concurrency=6).generate(_requests(60))
    assert [r.text for r in result.responses] == [f"réponse à question {i}" for i in range(60)]
    assert server.request_count == 60 and 2 <= server.max_in_flight <= 6
    assert result.stats.calls == 60 and result.stats.cache_hits == 0 and result.stats.completion_tokens == 60 * 4


def test_identical_requests_are_sent_once_and_cached(tmp_path):
    with OpenAIChatServer() as server:
        client = _client(server, tmp_path)
        requests = _requests(5) + _requests(5)
        first = client.generate(requests)
        assert server.request_count == 5 and first.stats.deduplicated == 5
        assert [r.text for r in first.responses[5:]] == [r.text for r in first.responses[:5]]
        again = client.generate(requests)
        assert server.request_count == 5 and again.stats.cache_hits == 10 and all(r.cached for r in again.responses)


def test_transient_errors_are_retried_with_backoff():
    with OpenAIChatServer(hang_s=2) as server:
        server.inject(429, 500, 503, Reply(hang=True))
        server.malformed_next()
        result = _client(server, concurrency=1, retries=5).generate(_requests(3))
    assert all(r.ok for r in result.responses)
    assert result.stats.retries == 5 and result.stats.attempts == 8 and server.request_count == 8


def test_retries_give_up_cleanly_and_the_failure_rate_gate_names_the_reasons(tmp_path):
    failing, overloaded = "question 2", [True]
    with OpenAIChatServer(reply_fn=lambda r: Reply(status=429, json={"error": {"message": "slow down"}})
                          if r.prompt == failing and overloaded[0] else Completion("ok")) as server:
        result = _client(server, tmp_path, retries=2).generate(_requests(4))
        assert server.prompts().count(failing) == 3  # 1 try + 2 retries, then it gives up
        bad = result.responses[2]
        assert not bad.ok and bad.finish_reason == "error" and bad.error.startswith("rate_limited_429")
        assert [r.ok for r in result.responses] == [True, True, False, True]
        assert result.stats.failures == {"rate_limited_429": 1}
        result.check_failure_rate(0.25)
        with pytest.raises(FailureRateExceeded, match=r"1/4 requests failed.*rate_limited_429: 1.*sends the 1 failed ones again"):
            result.check_failure_rate(0.1)
        # the failure is not cached: the next run (same endpoint, now healthy) sends only that request
        overloaded[0] = False
        server.reset()
        rerun = _client(server, tmp_path).generate(_requests(4))
        assert server.prompts() == [failing] and all(r.ok for r in rerun.responses)


def test_permanent_errors_are_not_retried():
    with OpenAIChatServer() as server:
        server.inject(400)
        result = _client(server, concurrency=1).generate(_requests(1))
        assert server.request_count == 1 and result.responses[0].error.startswith("client_error_400")


def _max_in_window(times, width):
    times = sorted(times)
    return max(bisect.bisect_left(times, t + width) - i for i, t in enumerate(times))


def test_requests_per_minute_hold_in_every_window_at_the_server_including_start_up():
    """The server's own arrival log: at most the quota in any window, even when every worker's
    first call spends a while inside the SDK before sending (what once let 126 through at 120/min)."""
    # 10 per second; the margin absorbs the client → server jitter of two busy shared cores
    limiter = RateLimiter(requests_per_minute=600, window_s=1.0, margin_s=0.25)
    with OpenAIChatServer() as server:
        client = _client(server, concurrency=8, limiter=limiter)
        real_generate, warmed = client.backend.generate, set()

        def slow_first_call(request):  # an SDK warming up in each worker thread, before sending
            if threading.get_ident() not in warmed:
                warmed.add(threading.get_ident())
                time.sleep(0.4)
            return real_generate(request)

        client.backend.generate = slow_first_call
        started = time.monotonic()
        result = client.generate(_requests(35))
        elapsed = time.monotonic() - started
        times = [r.received_at for r in server.requests]
    assert all(r.ok for r in result.responses) and len(times) == 35
    assert _max_in_window(times, 1.0) <= 10
    assert elapsed >= 3 * 1.25  # 35 requests at 10 per window need three more windows (+ margin)


def test_sliding_window_holds_120_per_minute_in_every_window_with_a_fake_clock():
    now = [0.0]
    limiter = RateLimiter(requests_per_minute=120, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    stamps = []
    for _ in range(400):
        limiter.acquire(10)
        stamps.append(now[0])
        now[0] += 0.01  # the call itself
    assert _max_in_window(stamps, 60.0) <= 120
    assert _max_in_window(stamps, 61.0) >= 118  # and the quota is used, not wasted


def test_token_bucket_limits_tokens_per_minute():
    now = [0.0]
    bucket = TokenBucket(60_000, burst_s=1.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(10):
        bucket.acquire(500)  # 1000 tokens/s: ten 500-token requests need ≥ 4 s after the 1 s burst
    assert now[0] == pytest.approx(4.0, abs=1e-6)


def test_gemini_backend_through_the_client(tmp_path):
    key = "AIzaSy-test-key-000000"
    with GeminiServer(reply_fn=lambda r: Completion('{"answer": 4}', prompt_tokens=100, completion_tokens=10)) as server:
        endpoint = EndpointConfig(backend="gemini", base_url=server.url, api_key_env="GEMINI_API_KEY", timeout_s=5)
        client = LLMClient(make_backend("gemini", endpoint, key), LayeredCache(SQLiteResponseCache(tmp_path / "c.sqlite")),
                           prices={"gemini-2.5-flash": ModelPrice(input_per_mtok=0.30, output_per_mtok=2.50)})
        request = LLMRequest(model="gemini-2.5-flash", json_schema={"type": "object"}, temperature=0.0, max_tokens=64,
                             messages=({"role": "system", "content": "Réponds en JSON."}, {"role": "user", "content": "2+2 ?"}))
        result = client.generate([request])
        body = server.requests[0].json
    assert result.responses[0].text == '{"answer": 4}'
    assert body["systemInstruction"]["parts"][0]["text"] == "Réponds en JSON."
    assert body["generationConfig"]["responseJsonSchema"] == {"type": "object"}
    assert body["generationConfig"]["maxOutputTokens"] == 64
    assert server.requests[0].header("x-goog-api-key") == key
    assert result.stats.cost_usd == pytest.approx((100 * 0.30 + 10 * 2.50) / 1e6)
    assert client.generate([request]).stats.saved_usd == pytest.approx(result.stats.cost_usd)


def test_api_keys_never_reach_logs_or_errors(caplog):
    key = "sk-live-SECRET-4242424242"
    # Servers echo a bad key back (OpenAI: "Incorrect API key provided: sk-..."): it must be masked.
    with OpenAIChatServer(reply_fn=lambda r: Reply(status=401, json={"error": {"message": f"Incorrect API key provided: {key}"}})) as server:
        with caplog.at_level(logging.DEBUG):
            result = _client(server, key=key).generate(_requests(2))
        assert server.requests[0].header("authorization") == f"Bearer {key}"  # it was sent...
    assert all(r.error and key not in r.error and "***" in r.error for r in result.responses)
    assert key not in caplog.text and "client_error_401" in caplog.text  # ...and never logged


def test_gemini_without_a_key_is_a_clear_setup_error():
    with pytest.raises(LLMSetupError, match="GEMINI_API_KEY"):
        make_backend("gemini", EndpointConfig(backend="gemini", api_key_env="GEMINI_API_KEY"), None)


def test_vllm_backend_is_import_guarded():
    with pytest.raises(LLMSetupError, match=r"\.venv-serve"):
        make_backend("offline", EndpointConfig(backend="vllm"))


def test_cache_is_wal_and_committed_per_response(tmp_path):
    with OpenAIChatServer() as server:
        _client(server, tmp_path).generate(_requests(3))
    conn = sqlite3.connect(tmp_path / "cache.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM replies WHERE status = 'ok'").fetchone()[0] == 3  # visible to another connection


def test_fixture_layer_answers_only_its_exact_requests(tmp_path):
    request = _requests(1)[0]
    fixture = tmp_path / "fixture.jsonl"
    import json

    fixture.write_text(json.dumps({"request": request_to_json(request), "response": {"text": "depuis la fixture"}}) + "\n")
    with OpenAIChatServer() as server:
        client = _client(server, tmp_path)
        client.cache = LayeredCache(SQLiteResponseCache(tmp_path / "cache.sqlite"), FixtureResponseCache([fixture]))
        other = LLMRequest(model="m", messages=request.messages, temperature=0.1)  # same prompt, other params
        result = client.generate([request, other])
        assert result.responses[0].text == "depuis la fixture" and result.responses[0].cached
        assert server.request_count == 1 and result.responses[1].text == "écho : question 0"
    fixture.write_text("not json\n")
    with pytest.raises(ValueError, match=r"fixture.jsonl:1"):
        FixtureResponseCache([fixture])


def test_a_shipped_failed_reply_is_final_not_asked_of_another_endpoint(tmp_path):
    """A fixture reply cut at max_tokens is a failure; the larger budget is looked up in the fixture
    too, and when that is cut as well the failure is final: the endpoint (the local stand-in model)
    is not asked to redo a recorded reply, and the reply text stays on the failed response."""
    import json

    request = _requests(1, max_tokens=8)[0]
    larger = LLMRequest(model="m", messages=request.messages, row_id=request.row_id, max_tokens=16)
    fixture = tmp_path / "fixture.jsonl"
    fixture.write_text("".join(json.dumps({"request": request_to_json(r), "response": {"text": '{"items": [1, 2', "finish_reason": "length"}}) + "\n"
                               for r in (request, larger)))
    with OpenAIChatServer() as server:
        client = _client(server, tmp_path)
        client.cache = LayeredCache(SQLiteResponseCache(tmp_path / "cache.sqlite"), FixtureResponseCache([fixture]))
        response = client.generate([request]).responses[0]
        assert server.request_count == 0
    assert response.status == "truncated" and response.recorded and response.text == '{"items": [1, 2'


def test_an_endpoint_key_variable_of_its_own_is_read_from_the_environment(monkeypatch):
    """A gateway's `api_key_env: MY_GATEWAY_KEY` works under Dagster, whose resource only carries
    the well-known variables (OPENAI_API_KEY, GEMINI_API_KEY) through dg.EnvVar."""
    from luth_pipeline.core.llm.factory import api_key_for
    from luth_pipeline.resources.llm import LLMClientResource

    monkeypatch.setenv("MY_GATEWAY_KEY", "gw-key-123")
    resource_keys = LLMClientResource(openai_api_key="sk-openai").api_keys()
    gateway = EndpointConfig(backend="openai", base_url="http://127.0.0.1:1/v1", api_key_env="MY_GATEWAY_KEY")
    assert api_key_for(gateway, resource_keys) == "gw-key-123"
    openai = EndpointConfig(backend="openai", base_url="http://127.0.0.1:1/v1", api_key_env="OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", "from-env-not-the-resource")
    assert api_key_for(openai, resource_keys) == "sk-openai"  # the resource's dg.EnvVar value wins
    assert api_key_for(EndpointConfig(backend="openai", base_url="http://127.0.0.1:1/v1"), resource_keys) is None


class _OfflineEngine(LLMBackend):
    """A batched backend shaped like vLLM's `LLM.chat`: one prompt it cannot take (too long)
    fails the whole call with a ValueError."""

    batched = True

    def __init__(self):
        super().__init__("offline", EndpointConfig(backend="vllm", batch_size=4))
        self.calls: list[int] = []

    def generate_batch(self, requests):
        self.calls.append(len(requests))
        if any("TOO LONG" in r.messages[-1]["content"] for r in requests):
            raise ValueError("The decoder prompt (length 9000) is longer than the maximum model length of 8192.")
        return [LLMResponse(text="ok: " + r.messages[-1]["content"], finish_reason="stop") for r in requests]


def test_one_bad_prompt_fails_its_row_not_its_batch(tmp_path):
    requests = _requests(10)
    requests[5] = LLMRequest(model="m", messages=({"role": "user", "content": "TOO LONG"},), row_id="row/5")
    engine = _OfflineEngine()
    client = LLMClient(engine, LayeredCache(SQLiteResponseCache(tmp_path / "c.sqlite")))
    result = client.generate(requests)
    assert engine.calls == [4, 4, 1, 1, 1, 1, 2]  # the failing batch of 4, retried one by one
    assert [r.text for r in result.responses] == [f"ok: question {i}" if i != 5 else "" for i in range(10)]
    assert "unexpected_ValueError" in result.responses[5].error and "longer than the maximum" in result.responses[5].error
    assert result.stats.failed == 1
    again = client.generate(requests)  # finished rows are cached; only the failed one is tried again
    assert engine.calls[7:] == [1] and again.responses[5].error
