"""Reply statuses through the real SDKs against the loopback servers: only complete, parsable
replies are successes; truncated and unparseable ones are failures with their reason, asked
again as the stage's policy says, cached with their status, and asked again by a re-run."""

import json
import sqlite3

import pytest

from luth_pipeline.core.llm.backends import make_backend
from luth_pipeline.core.llm.cache import LayeredCache, SQLiteResponseCache
from luth_pipeline.core.llm.client import LLMClient
from luth_pipeline.core.llm.config import EndpointConfig, ReplyPolicy
from luth_pipeline.core.llm.errors import FailureRateExceeded
from luth_pipeline.core.llm.types import LLMRequest
from luth_pipeline_tests.servers import Completion, GeminiServer, OpenAIChatServer

LONG = "une réponse complète de douze mots qui ne tient pas en huit"  # 12 words


def _requests(n, max_tokens=8, **kw):
    return [LLMRequest(model="m", messages=({"role": "user", "content": f"question {i}"},), max_tokens=max_tokens,
                       row_id=f"row/{i}", **kw) for i in range(n)]


def _openai(server, tmp_path, policy=None, base_url=None):
    endpoint = EndpointConfig(backend="openai", base_url=base_url or server.url + "/v1", timeout_s=5, max_concurrency=4)
    return LLMClient(make_backend("loop", endpoint, "sk-test"), LayeredCache(SQLiteResponseCache(tmp_path / "c.sqlite")),
                     max_retries=0, policy=policy)


def _gemini(server, tmp_path, policy=None):
    endpoint = EndpointConfig(backend="gemini", base_url=server.url, timeout_s=5, max_concurrency=4)
    return LLMClient(make_backend("gem", endpoint, "AIza-test"), LayeredCache(SQLiteResponseCache(tmp_path / "c.sqlite")),
                     max_retries=0, policy=policy)


def _stored(tmp_path):
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    return conn.execute("SELECT json_extract(request_json, '$.max_tokens'), status, error FROM replies "
                        "ORDER BY created_at").fetchall()


def test_a_truncated_reply_is_asked_again_with_a_larger_budget_as_a_new_cache_entry(tmp_path):
    with OpenAIChatServer(reply_fn=lambda r: LONG, enforce_max_tokens=True) as server:
        client = _openai(server, tmp_path, ReplyPolicy(truncated_retries=1, max_tokens_factor=2))
        result = client.generate(_requests(3))
        assert [r.json["max_tokens"] for r in server.requests].count(8) == 3
        assert [r.json["max_tokens"] for r in server.requests].count(16) == 3
        assert all(r.ok and r.text == LONG for r in result.responses)
        assert result.stats.reasked_truncated == 3 and result.stats.failed == 0 and result.stats.calls == 6
        stored = _stored(tmp_path)
        assert sorted((m, s) for m, s, _ in stored) == [(8, "truncated")] * 3 + [(16, "ok")] * 3
        server.reset()
        again = client.generate(_requests(3))  # the cut replies are known: straight to the larger budget's
        assert server.request_count == 0 and again.stats.cache_hits == 3 and all(r.ok for r in again.responses)


def test_gemini_max_tokens_is_a_failure_counted_in_the_rate_and_a_rerun_asks_exactly_the_failed(tmp_path):
    short = lambda r: "Réponse courte." if r.prompt != "question 1" else LONG  # noqa: E731
    with GeminiServer(reply_fn=short, enforce_max_tokens=True) as server:
        client = _gemini(server, tmp_path, ReplyPolicy(truncated_retries=1, max_tokens_factor=1.25))
        result = client.generate(_requests(3))
        assert [r.status for r in result.responses] == ["ok", "truncated", "ok"]
        cut = result.responses[1]
        assert not cut.ok and cut.finish_reason == "length" and cut.reason == "truncated"
        assert cut.error == "truncated: stopped at max_tokens=10 (finish_reason=length)"
        assert cut.text == " ".join(LONG.split()[:10])  # what came back is kept for the record
        assert [r.json["generationConfig"]["maxOutputTokens"] for r in server.requests if r.prompt == "question 1"] == [8, 10]
        assert result.stats.failures == {"truncated": 1}
        with pytest.raises(FailureRateExceeded) as raised:
            result.check_failure_rate(0.1, desc="translate")
        message = str(raised.value)
        assert "1/3 requests failed" in message and "truncated: 1" in message
        assert "answers the 2 good ones from the cache and sends the 1 failed ones again" in message
        assert "raise the stage's `max_tokens`" in message
        server.reset()
        rerun = client.generate(_requests(3))
        # exactly the failed row, at the budget it had reached (the first budget is known to be cut)
        assert [(r.prompt, r.json["generationConfig"]["maxOutputTokens"]) for r in server.requests] == [("question 1", 10)]
        assert rerun.stats.cache_hits == 2 and rerun.stats.failures == {"truncated": 1}


def test_raising_max_tokens_after_a_truncation_sends_only_the_failed_rows(tmp_path):
    with OpenAIChatServer(reply_fn=lambda r: LONG if r.prompt == "question 0" else "oui", enforce_max_tokens=True) as server:
        client = _openai(server, tmp_path, ReplyPolicy(truncated_retries=0))
        assert [r.status for r in client.generate(_requests(2)).responses] == ["truncated", "ok"]
        server.reset()
        rerun = client.generate(_requests(2))  # same budget: only the failed row is sent (and cut again)
        assert rerun.stats.calls == 1 and rerun.responses[0].status == "truncated" and server.prompts() == ["question 0"]
        server.reset()
        bigger = [LLMRequest(model="m", messages=({"role": "user", "content": "question 0"},), max_tokens=64)]
        assert client.generate(bigger).responses[0].ok and server.request_count == 1


def test_garbage_for_a_schema_is_unparseable_asked_again_once_then_a_failure(tmp_path):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    with OpenAIChatServer(reply_fn=lambda r: '{"answer": 4}') as server:
        client = _openai(server, tmp_path, ReplyPolicy(unparseable_retries=1))
        server.garbage_next(1)  # row 0: garbage once, then valid
        first = client.generate(_requests(1, max_tokens=64, json_schema=schema))
        assert first.responses[0].ok and first.responses[0].parsed == {"answer": 4}
        assert first.stats.reasked_unparseable == 1 and server.request_count == 2
        server.reset()
        server.garbage_next(2, text='{"answer": "quatre"}')  # valid JSON, schema violation, twice
        other = [LLMRequest(model="m", messages=({"role": "user", "content": "autre"},), max_tokens=64, json_schema=schema)]
        failed = client.generate(other).responses[0]
        assert failed.status == "unparseable" and server.request_count == 2
        assert failed.error.startswith("unparseable: schema violation at answer") and "quatre" in failed.text
        assert ("unparseable",) in {(s,) for _, s, _ in _stored(tmp_path)}
        server.reset()
        assert client.generate(other).responses[0].ok and server.request_count == 1  # a re-run asks it again


def test_a_stage_parser_decides_what_is_parseable_and_sees_cached_replies_too(tmp_path):
    def verdict(text: str) -> bool:
        word = text.strip().lower()
        if word not in ("true", "false"):
            raise ValueError(f"no verdict in {text[:40]!r}")
        return word == "true"

    replies = iter(["Peut-être", "True", "False"])
    with OpenAIChatServer(reply_fn=lambda r: next(replies)) as server:
        client = _openai(server, tmp_path, ReplyPolicy(unparseable_retries=1))
        result = client.generate(_requests(2, max_tokens=4), parse=verdict)
        assert sorted(r.parsed for r in result.responses) == [False, True] and server.request_count == 3
        cached = client.generate(_requests(2, max_tokens=4), parse=verdict)
        assert [r.parsed for r in cached.responses] == [r.parsed for r in result.responses] and server.request_count == 3


def test_fixing_base_url_sends_the_requests_again(tmp_path):
    with OpenAIChatServer(reply_fn=lambda r: "mauvais serveur") as wrong, OpenAIChatServer() as right:
        _openai(wrong, tmp_path).generate(_requests(3))
        fixed = _openai(right, tmp_path).generate(_requests(3))
        assert right.request_count == 3 and fixed.stats.cache_hits == 0
        assert [r.text for r in fixed.responses] == [f"écho : question {i}" for i in range(3)]
        # the same endpoint again: all cached; a trailing slash is the same URL
        again = _openai(right, tmp_path, base_url=right.url + "/v1/").generate(_requests(3))
        assert right.request_count == 3 and again.stats.cache_hits == 3


def test_other_finish_reasons_are_incomplete_failures(tmp_path):
    with OpenAIChatServer(reply_fn=lambda r: Completion("Je ne peux", finish_reason="content_filter")) as server:
        response = _openai(server, tmp_path).generate(_requests(1)).responses[0]
    assert response.status == "incomplete" and response.error == "incomplete: finish_reason=content_filter"


def test_the_loopback_servers_cut_at_the_budget_like_real_servers():
    with OpenAIChatServer(reply_fn=lambda r: LONG, enforce_max_tokens=True) as server:
        import openai

        out = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "q"}], max_tokens=3)
    assert out.choices[0].finish_reason == "length" and out.choices[0].message.content == "une réponse complète"
    assert json.loads(json.dumps(out.usage.completion_tokens)) == 3


def test_the_transformers_backend_reports_a_cut_generation_as_truncated(tmp_path, tiny_model_path):
    """The tiny random model never says EOS within 3 tokens: its reply is cut, and the client
    asks once more with 6 before calling it a failure."""
    endpoint = EndpointConfig(backend="transformers", device="cpu", dtype="float32")
    backend = make_backend("local", endpoint, resolve_model=lambda model: tiny_model_path)
    client = LLMClient(backend, LayeredCache(SQLiteResponseCache(tmp_path / "c.sqlite")),
                       policy=ReplyPolicy(truncated_retries=1, max_tokens_factor=2))
    response = client.generate(_requests(1, max_tokens=3)).responses[0]
    assert response.status == "truncated" and response.completion_tokens == 6
    assert response.error == "truncated: stopped at max_tokens=6 (finish_reason=length)"
    assert sorted((m, s) for m, s, _ in _stored(tmp_path)) == [(3, "truncated"), (6, "truncated")]
