"""Tulu core: checks, templates, dedup, and the shipped fixture cache staying in sync."""


import polars as pl
import pytest

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.llm.types import LLMResponse
from luth_pipeline.core.llm.verdict import parse_verdict
from luth_pipeline.core.tulu.checks import format_mismatch, french_probability, is_refusal
from luth_pipeline.core.tulu.config import TranslationChecks, TuluSourceConfig
from luth_pipeline.core.tulu.generate import translate_prompts
from luth_pipeline.core.tulu.load import load_prompts
from luth_pipeline.core.llm.prompts import PromptTemplate
from luth_pipeline.demo_data import DEMO_DATA


def test_format_checks_catch_lost_code_latex_and_lists():
    source = "Solve $x^2=4$ and explain:\n```python\nprint(x)\n```\n- step one\n- step two\n\\[a+b\\]"
    good = "Résous $x^2=4$ et explique :\n```python\nprint(x)\n```\n- étape un\n- étape deux\n\\[a+b\\]"
    assert format_mismatch(source, good) is None
    assert format_mismatch(source, good.replace("$x^2=4$", "x² = 4")) == "inline math 1→0"
    assert "code blocks 1→0" in format_mismatch(source, good.replace("```python\nprint(x)\n```", "print(x)"))
    assert "bullets 2→1" in format_mismatch(source, good.replace("- étape deux\n", ""))


def test_french_detection_ignores_code_and_math_and_case():
    assert french_probability("Calcule $\\int_0^1 x\\,dx$ puis écris le résultat avec `numpy`.") > 0.9
    assert french_probability("PROPOSER DES PORTIONS PLUS PETITES AVEC LA POSSIBILITÉ DE SE RESSERVIR.") > 0.9
    assert french_probability("Compute the integral and write the result.") < 0.2
    assert french_probability("```python\nx = 1\n```") == 0.0


def test_refusals_and_verdicts():
    assert is_refusal("Je suis désolé, mais je ne peux pas rédiger une fausse ordonnance.")
    assert is_refusal("I'm sorry, but I can't help with that.")
    assert not is_refusal("Bien sûr ! Voici une recette de ratatouille.")
    assert parse_verdict("True") is True and parse_verdict("<think>\n\n</think>\n\nFalse") is False
    assert parse_verdict("Peut-être") is None and parse_verdict("True or False") is None


def test_templates_render_literally_and_check_placeholders(tmp_path):
    template = PromptTemplate.load(load_profile("local").resolve_path("configs/prompts"), "tulu_translate")
    messages = template.render(prompt="Use {braces} and $\\frac{a}{b}$")
    assert messages[0]["role"] == "system" and messages[-1]["content"].endswith("Use {braces} and $\\frac{a}{b}$")
    with pytest.raises(ValueError, match="needs"):
        template.render(question="x")
    (tmp_path / "bad.yaml").write_text("system: hi\nusr: typo\n")
    with pytest.raises(ValueError, match="unknown"):
        PromptTemplate.load(tmp_path, "bad")


def test_load_keeps_ids_and_drops_duplicates_and_bad_rows(tmp_path):
    data = tmp_path / "tulu.jsonl"
    data.write_text(
        '{"id": "a", "prompt": "Hello  world", "messages": [], "constraints": ["x"]}\n'
        '{"id": "b", "prompt": "hello world", "messages": []}\n'
        '{"id": "a", "prompt": "Other", "messages": []}\n'
        '{"id": "c", "prompt": null, "messages": [{"role": "user", "content": "From messages"}]}\n'
        '{"id": "", "prompt": "No id", "messages": []}\n')
    prompts, rejects = load_prompts({"s": TuluSourceConfig(hf_id="x/y", source="src", data_files=[str(data)])}, lambda p: p)
    assert prompts["id"].to_list() == ["tulu_prompts/a", "tulu_prompts/c"]
    assert prompts["prompt"].to_list() == ["Hello  world", "From messages"] and prompts["constraints"][0].to_list() == ["x"]
    assert sorted(rejects["reason"].str.split(" ").list.first().to_list()) == ["duplicate", "duplicate", "missing"]


class _ScriptedClient:
    """An LLMClient stand-in answering from a list (the real client is tested in core/llm)."""

    def __init__(self, replies):
        self.replies = replies

    def generate(self, requests, desc="", on_progress=None):
        from luth_pipeline.core.llm.client import GenerationResult, GenerationStats

        return GenerationResult(self.replies[: len(requests)], GenerationStats(total=len(requests)))


def test_translation_rejects_carry_the_reason():
    profile = load_profile("local")
    template = PromptTemplate.load(profile.resolve_path("configs/prompts"), "tulu_translate")
    prompts = pl.DataFrame({"id": [f"tulu_prompts/{i}" for i in "abcde"], "source": ["s"] * 5, "source_id": list("abcde"),
                            "prompt": ["Write a short poem about the sea and the wind."] * 4 + ["Solve $x+1=2$ and explain your reasoning step by step."],
                            "constraints": [[]] * 5, "parent_asset": [None] * 5, "parent_id": [None] * 5})
    replies = [LLMResponse("Écris un court poème sur la mer et le vent.", "stop"),
               LLMResponse("", "error", error="timeout: gave up"),
               LLMResponse("Écris un court poème sur la mer", "length"),
               LLMResponse("Write a short poem about the sea and the wind, please.", "stop"),
               LLMResponse("Résous x+1=2 et explique ton raisonnement étape par étape.", "stop")]
    result = translate_prompts(prompts, _ScriptedClient(replies), profile.tulu.translate, template, TranslationChecks())
    assert result.data["source_id"].to_list() == ["a"]
    assert result.data["parent_id"].to_list() == ["tulu_prompts/a"]
    assert dict(zip(result.rejects["source_id"], result.rejects["reason"])) == {
        "b": "llm_error", "c": "truncated", "d": "not_french", "e": "format_changed"}


def test_shipped_fixture_cache_matches_templates_and_local_profile():
    from luth_pipeline_tests.fixtures.tulu import build_response_cache

    expected = build_response_cache.render(build_response_cache.build_entries(load_profile("local")))
    assert (DEMO_DATA / "tulu" / "responses.jsonl").read_text(encoding="utf-8") == expected, \
        "responses.jsonl is stale: run luth_pipeline_tests/fixtures/tulu/build_response_cache.py"
    assert expected.count("\n") >= 120  # ≥ 40 prompts × (translation, answer, verdict)


def test_the_judge_looks_at_truncation_and_verdicts_through_the_real_client(tmp_path):
    """Answers and verdicts from the loopback server through the real client: a verdict cut at
    the judge's max_tokens (even after the retry with twice the budget) and one without True or
    False are rejects with their reason and count as judge failures; only a read True keeps."""
    from luth_pipeline.core.llm.backends import make_backend
    from luth_pipeline.core.llm.cache import LayeredCache, SQLiteResponseCache
    from luth_pipeline.core.llm.client import LLMClient
    from luth_pipeline.core.llm.config import EndpointConfig
    from luth_pipeline.core.tulu.config import AnswerChecks, JudgeConfig
    from luth_pipeline.core.tulu.generate import answer_prompts
    from luth_pipeline_tests.servers import OpenAIChatServer

    profile = load_profile("local")
    directory = profile.resolve_path("configs/prompts")
    answer_t, judge_t = PromptTemplate.load(directory, "tulu_answer"), PromptTemplate.load(directory, "tulu_judge")
    answers = {"a": "La mer est calme ce soir et le vent souffle doucement sur la plage.",
               "b": "Le soleil se couche derrière les collines et la lumière devient dorée.",
               "c": "Les enfants jouent dans le jardin pendant que les parents préparent le dîner."}
    verdicts = {"a": "True", "b": "True , car la réponse est en français correct et complet , sans aucun doute",
                "c": "Peut-être"}

    def reply(request):
        row = next(k for k, v in answers.items() if v in request.prompt) if "QUESTION:" in request.prompt else None
        return verdicts[row] if row else answers[request.prompt.split("#")[1]]

    prompts_fr = pl.DataFrame({"id": [f"tulu_prompts_fr/{k}" for k in answers], "source": ["s"] * 3,
                               "source_id": list(answers), "prompt": [f"Écris une phrase #{k}# en français." for k in answers]})
    with OpenAIChatServer(reply_fn=reply, enforce_max_tokens=True) as server:
        endpoint = EndpointConfig(backend="openai", base_url=server.url + "/v1", timeout_s=5)
        cache = LayeredCache(SQLiteResponseCache(tmp_path / "c.sqlite"))
        client = LLMClient(make_backend("loop", endpoint, "k"), cache, max_retries=0)
        judge = JudgeConfig(endpoint="loop", model="judge", max_tokens=4)
        result = answer_prompts(prompts_fr, client, profile.tulu.answer.model_copy(update={"max_tokens": 64}), answer_t,
                                AnswerChecks(), client, judge, judge_t)
        judge_budgets = sorted(r.json["max_tokens"] for r in server.requests if r.json["model"] == "judge")
    assert result.data["source_id"].to_list() == ["a"] and result.data["judge_verdict"].to_list() == [True]
    rejects = dict(zip(result.rejects["source_id"], result.rejects["reason"]))
    assert rejects == {"b": "judge_truncated", "c": "judge_unparsable"}
    assert judge_budgets == [4, 4, 4, 4, 8]  # b asked again with twice the budget, c asked again as is
    assert result.generation["judge"].failures == {"truncated": 1, "unparseable": 1}
