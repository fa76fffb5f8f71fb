"""Model cards a Hub user expects: hub ids in the header, the recipe and configs in the body, eval
results in the `model-index` format that huggingface_hub itself parses."""

import polars as pl
from huggingface_hub import ModelCard as HubModelCard

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.eval.runner import SCORES_SCHEMA
from luth_pipeline.core.train.model_card import (
    ModelCard,
    merged_model_card,
    model_index,
    scores_table,
    split_card,
    training_datasets,
    with_eval_results,
)


def _card(**extra) -> ModelCard:
    return ModelCard(
        name="Luth qwen3-0.6b (fine-tuned)", base_model="Qwen/Qwen3-0.6B", engine="axolotl",
        hyperparameters={"learning_rate": 2e-5, "num_epochs": 3}, results={"final_loss": 0.81},
        lineage={"dataset": "luth_sft", "datasets": ["HuggingFaceTB/smoltalk2", "luth_sft", "allenai/tulu-3-sft-personas-math"]},
        **extra,
    )


def _scores() -> pl.DataFrame:
    rows = []
    for language, task, metric, score in (("fr", "mmlu_fr", "acc", 0.4012), ("fr", "ifeval_fr", "prompt_level_strict_acc", 0.4824),
                                          ("en", "arc:challenge", "acc", 0.3609)):
        common = {"checkpoint": "qwen3-0.6b.finetuned", "language": language, "task": task, "stderr": 0.01, "run_std": 0.0,
                  "num_runs": 3, "run_scores": [score] * 3, "num_samples": 100, "reference": None, "backend": "vllm", "model_path": "x"}
        rows += [{**common, "metric": metric, "headline": True, "score": score},
                 {**common, "metric": metric + "_other", "headline": False, "score": 0.99}]
    return pl.DataFrame(rows, schema=SCORES_SCHEMA)


def test_header_lists_only_hub_ids():
    front, body = split_card(_card().render())
    assert front["base_model"] == ["Qwen/Qwen3-0.6B"]
    assert front["datasets"] == ["HuggingFaceTB/smoltalk2", "allenai/tulu-3-sft-personas-math"]  # `luth_sft` is no hub id
    assert "## Recipe" in body and "assistant turns only" in body
    hub = HubModelCard(_card().render())
    assert hub.data.base_model == ["Qwen/Qwen3-0.6B"] and "luth_sft" not in hub.data.datasets


def test_gpu_profile_training_data_are_the_mixtures_hub_datasets():
    datasets = training_datasets(load_profile("gpu"))
    assert {"HuggingFaceTB/smoltalk2", "CohereForAI/aya_dataset", "legmlai/openhermes-fr",
            "allenai/tulu-3-sft-personas-instruction-following", "allenai/tulu-3-sft-personas-math"} <= set(datasets)
    assert all("/" in d for d in datasets)


def test_training_on_the_published_luth_sft_names_only_that_dataset():
    gpu = load_profile("gpu")
    profile = gpu.model_copy(update={"sft": gpu.sft.model_copy(update={"source": "published"})})
    assert training_datasets(profile) == [profile.sft.published.hf_id] == ["kurakurai/luth-sft"]


def test_eval_results_become_a_model_index_huggingface_hub_reads(local_profile):
    from luth_pipeline.core.eval.datasets import task_catalogue

    index = model_index("qwen3-0.6b.finetuned", _scores(), task_catalogue(local_profile.eval), {"temperature": 0.0, "num_runs": 3})
    card = with_eval_results(_card().render(), index, scores_table(_scores()))
    results = HubModelCard(card).data.eval_results
    by_dataset = {r.dataset_type: r for r in results}
    assert len(results) == 3  # headline metrics only
    assert by_dataset["openai/MMMLU"].metric_value == 40.12 and by_dataset["openai/MMMLU"].dataset_config == "FR_FR"
    assert by_dataset["allenai/ai2_arc"].dataset_split == "test" and by_dataset["allenai/ai2_arc"].metric_type == "acc"
    assert "| fr | ifeval_fr | prompt_level_strict_acc | 48.24 | 3 |" in card
    # re-evaluating replaces the results, never stacks a second section
    again = with_eval_results(card, index, scores_table(_scores()))
    assert again.count("## Evaluation results") == 1 and again.index("## Evaluation results") < again.index("## Use")
    assert split_card(again)[0]["datasets"] == split_card(card)[0]["datasets"]


def test_merged_card_names_both_parents_the_recipe_and_the_mergekit_yaml():
    parents = {"base": {"checkpoint": "qwen3-0.6b.base", "path": "/models/qwen", "hub_id": "Qwen/Qwen3-0.6B", "parameter_checksum": "ab"},
               "finetuned": {"checkpoint": "qwen3-0.6b.finetuned", "path": "/data/ft", "parameter_checksum": "cd"}}
    card = merged_model_card(name="Luth qwen3-0.6b merged (slerp-070)", method="slerp", recipe="slerp-070", params={"t": 0.7},
                             mergekit_yaml="merge_method: slerp\nparameters:\n  t: 0.7\n", parents=parents,
                             finetuned_card=_card().render(), results={"parameter_checksum": "ef"}).render()
    front, body = split_card(card)
    assert front["base_model"] == ["Qwen/Qwen3-0.6B"]  # the fine-tuned parent is a local folder, not a hub id
    assert front["datasets"] == ["HuggingFaceTB/smoltalk2", "allenai/tulu-3-sft-personas-math"]  # inherited
    assert "merge" in front["tags"] and "mergekit" in front["tags"]
    assert "## mergekit config" in body and "merge_method: slerp" in body
    assert "| finetuned.path | /data/ft |" in body and "| t | 0.7 |" in body
