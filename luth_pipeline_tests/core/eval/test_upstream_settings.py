"""The `gpu` profile evaluates with upstream's settings and task strings, and our prompts for the
tasks upstream customised are upstream's prompts.

The reference values are upstream's own config, shipped with its source commit in
configs/eval/upstream/eval_config.yaml.
"""

import json

import pytest
import yaml

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.eval.datasets import load_task_split, read_task_list, task_catalogue
from luth_pipeline.core.eval.prompts import prompt_function

UPSTREAM = yaml.safe_load((REPO_ROOT / "configs/eval/upstream/eval_config.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def gpu_eval():
    return load_profile("gpu").eval


def test_reference_file_names_its_source():
    assert UPSTREAM["source"] == {
        "repo": "kurakurai/Luth",
        "commit": "6248963a400e96781dd0f6e53a7d47f6d265bf02",
        "path": "configs/eval/eval_config.yaml",
    }


def test_generation_settings_equal_upstream(gpu_eval):
    config = UPSTREAM["config"]
    extras, generation, model = config["extras"], config["model_parameters"], config["model"]
    assert gpu_eval.backend == "vllm"
    assert gpu_eval.temperature == generation["temperature"] == 0.0
    assert gpu_eval.max_new_tokens == generation["max_new_tokens"] == 8192
    assert gpu_eval.num_runs == extras["num_runs"] == 3
    assert gpu_eval.enable_thinking is extras["enable_thinking"] is False
    assert gpu_eval.use_chat_template is extras["use_chat_template"] is True
    assert gpu_eval.system_prompts == {"en": extras["system_prompt"], "fr": UPSTREAM["french_system_prompt"]["value"]}
    assert gpu_eval.dtype == model["dtype"]
    assert gpu_eval.vllm.gpu_memory_utilization == model["gpu_memory_utilization"]
    assert gpu_eval.vllm.max_model_length == model["max_model_length"]
    assert gpu_eval.vllm.enable_prefix_caching is extras["enable_prefix_caching"]
    # tensor_parallel_size is hardware (upstream: LFM2-700M over 4 GPUs), not an eval setting


def test_task_strings_equal_upstream(gpu_eval):
    ours = read_task_list(gpu_eval.suites["fr"]) + read_task_list(gpu_eval.suites["en"])
    assert ours == UPSTREAM["config"]["tasks"]
    catalogue = task_catalogue(gpu_eval)
    assert {catalogue[name.split("|")[1]].language for name in read_task_list(gpu_eval.suites["en"])} == {"en"}


def _doc(local_profile, task: str, row: int = 0):
    spec = task_catalogue(local_profile.eval)[task]
    line = load_task_split(spec, local_profile.eval)[row]
    return line, prompt_function(spec)(line, task)


def test_arc_fr_prompt_is_upstreams(local_profile):
    """upstream prompt_arc_fr: `Question: …\\nAnswer:`, choices ` <text>` from the `choices` list,
    gold = index of answerKey in ABCD."""
    line, doc = _doc(local_profile, "arc_challenge_fr", 2)
    assert doc.query == f"Question: {line['question']}\nAnswer:"
    assert doc.choices == [f" {c}" for c in line["choices"]]
    assert doc.gold_index == "ABCD".index(line["answerKey"])


def test_math_500_prompts_are_upstreams_to_the_character(local_profile):
    _, fr = _doc(local_profile, "math_500_fr")
    assert "'Donc, la réponse finale est : $\\boxed{RÉPONSE}$. J’espère que c’est correct' (sans les guillemets)" in fr.query
    assert "l’expression qui résout le problème. Raisonne étape par étape avant de répondre.\n\n" in fr.query
    line, en = _doc(local_profile, "math_500")
    assert en.query.startswith("Solve the following math problem efficiently and clearly.  The last line")
    assert en.query.endswith("Think step by step before answering.\n\n" + line["problem"])
    assert en.choices == [line["solution"]]  # LightEval 0.10 math_500: the solution is the gold
    _, aime = _doc(local_profile, "aime24_fr")
    assert aime.query.startswith("Résous clairement et efficacement le problème de mathématiques suivant.")


def test_english_leaderboard_prompts(local_profile):
    line, mmlu = _doc(local_profile, "mmlu")
    topic = line["subject"].replace("_", " ")
    assert mmlu.query == (
        f"The following are multiple choice questions (with answers) about {topic}.\n\n{line['question']}\n"
        + "".join(f"{k}. {c}\n" for k, c in zip("ABCD", line["choices"])) + "Answer:"
    )
    assert mmlu.choices == [" A", " B", " C", " D"]
    line, hellaswag = _doc(local_profile, "hellaswag")
    assert hellaswag.query == f"{line['activity_label']}: {line['ctx_a']} {line['ctx_b'].capitalize()} "
    assert hellaswag.choices == list(line["endings"])
    line, arc = _doc(local_profile, "arc:challenge")
    assert arc.query == f"Question: {line['question']}\nAnswer:"
    assert arc.choices == [f" {t}" for t in line["choices"]["text"]]


def test_hellaswag_preprocess_drops_wikihow_artifacts():
    from luth_pipeline.core.eval.prompts import hellaswag_preprocess

    assert hellaswag_preprocess("Clean [header] the pan [title] Then rinse  it.") == "Clean the pan. Then rinse it."


def test_max_new_tokens_replaces_every_generative_task_size(local_profile):
    """LightEval's vLLM model: `generation_parameters.max_new_tokens or generation_size`; our task
    configs carry the same value so both backends generate the same budget."""
    from luth_pipeline.core.eval.tasks import build_task_configs

    config = local_profile.eval.model_copy(update={"max_new_tokens": 8192})
    sizes = {c.name: c.generation_size for c in build_task_configs(config, ["hellaswag_fr", "ifeval_fr", "boolq_fr"])}
    assert sizes == {"hellaswag_fr": 8192, "ifeval_fr": 8192, "boolq_fr": 8192}
    unset = local_profile.eval.model_copy(update={"max_new_tokens": None})
    assert {c.name: c.generation_size for c in build_task_configs(unset, ["hellaswag_fr"])} == {"hellaswag_fr": 1}


def test_fixture_arc_fr_has_the_real_columns(local_profile):
    spec = task_catalogue(local_profile.eval)["arc_challenge_fr"]
    first = json.loads((local_profile.resolve_path(spec.fixture) / "test.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "question", "choices", "answerKey"} and len(first["choices"]) == 4


def test_hellaswag_fr_reports_upstreams_exact_match_family(local_profile):
    """em, qem, pem, pqem (LightEval 0.10 names): a long answer starting with the letter counts for
    the prefix variants only."""
    from lighteval.models.model_output import ModelResponse

    from luth_pipeline.core.eval.metrics import metrics_for

    _, doc = _doc(local_profile, "hellaswag_fr")
    gold = doc.choices[doc.gold_index].strip()
    scores = {}
    for metric in metrics_for("hellaswag", "fr"):
        response = ModelResponse(text=[f"{gold}. parce que c'est la suite logique"])
        scores[metric.metric_name] = metric.sample_level_fn.compute(doc=doc, model_response=response)
    assert scores == {"em": 0, "qem": 0, "pem": 1, "pqem": 1}
