"""The openhermes_fr LLM judge step (upstream filtering.py) through the real client and a loopback
OpenAI server, and the shipped fixture verdicts staying in sync with the local profile."""


from luth_pipeline.core.config import load_profile
from luth_pipeline.core.french.filters import run_filters
from luth_pipeline.core.french.judge import LLMJudge, load_judge_template
from luth_pipeline.core.llm.backends import make_backend
from luth_pipeline.core.llm.cache import LayeredCache, SQLiteResponseCache
from luth_pipeline.core.llm.client import LLMClient
from luth_pipeline.core.llm.config import EndpointConfig
from luth_pipeline.core.sources.config import SourceJudgeConfig
from luth_pipeline.demo_data import DEMO_DATA
from luth_pipeline_tests.servers import OpenAIChatServer

PROMPT = "configs/prompts/openhermes_judge.yaml"
VERDICTS = {"vrai": "True", "faux": "<think>\n\n</think>\n\nFalse", "bavard": "Peut-être",
            "coupe": "True, car la réponse est correcte, complète et rédigée dans un français impeccable"}


def _row(key: str) -> dict:
    return {"id": f"french/openhermes_fr/{key}",
            "messages": [{"role": "user", "content": f"Question {key} : pourquoi le ciel est-il bleu ?"},
                         {"role": "assistant", "content": f"Réponse {key} : la diffusion de Rayleigh."}]}


def test_judge_keeps_true_and_rejects_false_garbage_and_cut_verdicts_with_their_reason(tmp_path):
    profile = load_profile("local")
    template = load_judge_template(profile.resolve_path(PROMPT), "prompt")

    def reply(request):  # the server sees upstream's QUESTION/ANSWER user message
        assert request.prompt.startswith("QUESTION:\nQuestion ") and "\n\nANSWER:\nRéponse " in request.prompt
        return VERDICTS[request.prompt.split("Question ")[1].split(" ")[0]]

    with OpenAIChatServer(reply_fn=reply, enforce_max_tokens=True) as server:
        endpoint = EndpointConfig(backend="openai", base_url=server.url + "/v1", timeout_s=5)
        client = LLMClient(make_backend("loop", endpoint, "k"), LayeredCache(SQLiteResponseCache(tmp_path / "c.sqlite")),
                           max_retries=0)
        stage = SourceJudgeConfig(endpoint="loop", model="Qwen/Qwen3-32B", max_tokens=4, prompt=PROMPT)
        judge = LLMJudge(client, stage, template)
        result = run_filters([_row(k) for k in VERDICTS], [judge])
        system = server.requests[0].json["messages"][0]
    assert system["role"] == "system" and "Respond only with: True or False" in system["content"]
    assert server.requests[0].json["temperature"] == 0.7 and server.requests[0].json["top_p"] == 0.8
    assert [r["id"] for r in result.kept] == ["french/openhermes_fr/vrai"]
    assert result.kept[0]["filters_passed"] == ["llm_judge"]
    reasons = {r["id"].rsplit("/", 1)[1]: r["reason"] for r in result.rejected}
    assert reasons == {"faux": "judge_false", "bavard": "judge_unparsable", "coupe": "judge_truncated"}
    assert next(r for r in result.rejected if r["reason"] == "judge_false")["reason_detail"] == "False"
    # the cut verdict was asked again with twice the budget before giving up; the garbage one re-asked once
    assert judge.stats.total == 4 and judge.stats.failed == 2 and judge.stats.reasked_truncated == 1
    assert judge.stats.reasked_unparseable == 1


def test_shipped_judge_verdicts_match_template_fixture_rows_and_local_profile():
    from luth_pipeline_tests.fixtures.french import build_judge_cache

    expected = build_judge_cache.render(build_judge_cache.build_entries(load_profile("local")))
    assert (DEMO_DATA / "french" / "openhermes_judge_responses.jsonl").read_text(encoding="utf-8") == expected, \
        "openhermes_judge_responses.jsonl is stale: run luth_pipeline_tests/fixtures/french/build_judge_cache.py"
    assert expected.count('"text": "False"') == 15 and expected.count('"text": "True"') == 137
