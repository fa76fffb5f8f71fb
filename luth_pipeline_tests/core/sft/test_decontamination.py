"""N-gram decontamination: planted benchmark items go (exact or lightly reformatted), near-misses stay."""

from __future__ import annotations

import json

import pytest

from luth_pipeline.core.sft.config import DecontaminationConfig, EvalSetSpec
from luth_pipeline.core.sft.decontamination import (
    EvalIndex,
    EvalText,
    build_index,
    decontamination_sets,
    load_eval_texts,
    normalize_words,
    scan_conversations,
)
from luth_pipeline.core.sft.mixture import LoadedInput, build_mixture
from luth_pipeline.core.sft.config import MixtureInput
from luth_pipeline_tests.core.sft.chat_tables import EVAL, chat_table, eval_rows

QUESTION = (
    "Un train quitte Lyon à 8 h 15 et roule à 120 km/h vers Paris, distante de 465 km ; "
    "à quelle heure arrivera-t-il s'il ne s'arrête jamais en chemin ?"
)


def index_of(*texts: str, ngram: int = 13, min_words: int = 8) -> EvalIndex:
    index = EvalIndex(ngram=ngram, min_words=min_words)
    for i, text in enumerate(texts):
        index.add(EvalText("bench", str(i), text))
    return index


def test_exact_copy_is_found():
    assert [m.eval_set for m in index_of(QUESTION).find(f"Voici un exercice : {QUESTION} Merci.")] == ["bench"]


@pytest.mark.parametrize(
    "variant",
    [
        QUESTION.upper(),
        QUESTION.replace(" ", "   ").replace(";", ",\n"),
        # accents dropped, quotes and punctuation changed, wrapped in markdown
        "**Exercice.** Un train quitte Lyon a 8h15 et roule a 120 km/h vers « Paris », distante de 465 km - "
        "a quelle heure arrivera-t-il s'il ne s'arrete jamais en chemin",
    ],
)
def test_lightly_reformatted_copy_is_found(variant):
    assert index_of(QUESTION).find(variant), variant


def test_near_miss_is_kept():
    words = QUESTION.split()
    # 12 consecutive words of the question, then different text: under the 13-gram threshold.
    twelve = " ".join(normalize_words(QUESTION)[:12])
    assert not index_of(QUESTION).find(f"{twelve} bus rouge le dimanche matin")
    # Same topic and numbers, reworded every few words.
    reworded = "Un TGV part de Lyon vers 8 h 15, il file à 120 km/h en direction de Paris (465 km) : quand arrive-t-il ?"
    assert not index_of(QUESTION).find(reworded)
    assert len(words) > 13


def test_short_items_match_whole_and_tiny_ones_are_ignored():
    index = index_of("Quelle est la capitale administrative de la Bourgogne ?", "Paris")
    assert index.find("Dis-moi : quelle est la capitale administrative de la Bourgogne, stp")
    assert not index.find("Paris est une belle ville.")  # one-word choice: below min_words
    assert not index.find("Quelle est la capitale de la Bourgogne ?")  # a word missing


def _local_index(profile):
    config = profile.sft.decontamination
    return build_index(decontamination_sets(config, profile.eval), config, profile.resolve_path)


def test_index_reads_eval_fixtures_with_datasets(local_profile):
    index = _local_index(local_profile)
    names = [s.name for s in decontamination_sets(local_profile.sft.decontamination, local_profile.eval)]
    assert len(names) == 17 and set(index.texts_per_set) == set(names)
    assert all(index.grams_per_set[name] > 0 for name in names), index.grams_per_set


@pytest.mark.parametrize("profile_name", ["local", "gpu", "prod"])
def test_every_profile_decontaminates_against_every_eval_task_where_the_eval_stage_reads_it(profile_name):
    """One source of truth: the eval catalogue, located as the eval stage locates it (fixtures or hub)."""
    from luth_pipeline.core.config import load_profile
    from luth_pipeline.core.eval.datasets import dataset_location, task_catalogue

    profile = load_profile(profile_name)
    sets = {s.name: s for s in decontamination_sets(profile.sft.decontamination, profile.eval)}
    catalogue = task_catalogue(profile.eval)
    assert set(sets) == set(catalogue)
    for name, task in catalogue.items():
        path, subset, revision = dataset_location(task, profile.eval)
        assert sets[name].text_fields == task.text_fields
        if profile.eval.data_source == "hub":
            assert (sets[name].hf_id, sets[name].subset, sets[name].revision, sets[name].split) == (path, subset, revision, task.split)
        else:
            assert sets[name].data_files and all(f.startswith(path) for f in sets[name].data_files)


def test_catalogue_sets_yield_question_and_choice_texts_nested_fields_included(local_profile):
    sets = {s.name: s for s in decontamination_sets(local_profile.sft.decontamination, local_profile.eval)}
    mmlu = [t.text for t in load_eval_texts(sets["mmlu_fr"], local_profile.resolve_path)]
    assert "Quelle est la capitale de l'Australie ?" in mmlu and "Canberra" in mmlu
    arc = [t.text for t in load_eval_texts(sets["arc:challenge"], local_profile.resolve_path)]
    assert "Copper" in arc  # ai2_arc's `choices.text` list, flattened


def test_an_extra_eval_set_adds_to_the_catalogue_and_a_repeat_is_refused(local_profile, tmp_path):
    file = tmp_path / "mine.jsonl"
    file.write_text(json.dumps({"q": "Une question maison assez longue pour compter ici"}) + "\n", encoding="utf-8")
    extra = EvalSetSpec(name="maison", data_files=[str(file)], text_fields=["q"])
    config = local_profile.sft.decontamination.model_copy(update={"eval_sets": [extra]})
    assert [s.name for s in decontamination_sets(config, local_profile.eval)][-1] == "maison"
    repeat = config.model_copy(update={"eval_sets": [extra.model_copy(update={"name": "mmlu_fr"})]})
    with pytest.raises(ValueError, match="mmlu_fr"):
        decontamination_sets(repeat, local_profile.eval)


def test_planted_benchmark_rows_are_rejected_per_benchmark(local_profile):
    index = _local_index(local_profile)
    mmlu = eval_rows("mmlu_fr")[0]
    gpqa = eval_rows("gpqa_fr_diamond")[0]
    clean = [{"role": "user", "content": "Donne-moi une recette de crêpes."}, {"role": "assistant", "content": "Farine, œufs, lait, beurre."}]
    planted_mmlu = [{"role": "user", "content": mmlu["Question"].upper()}, {"role": "assistant", "content": "Je pense que c'est A."}]
    planted_gpqa = [{"role": "user", "content": "Aide-moi."}, {"role": "assistant", "content": f"Voici : {gpqa['problem']}"}]
    frame = chat_table("french", "smoltalk2", [clean, planted_mmlu, planted_gpqa])
    result = build_mixture([LoadedInput(MixtureInput(split="s", asset="french_samples"), frame)], index, seed=0)
    assert result.rows["parent_id"].to_list() == ["french/smoltalk2/0"]
    reasons = dict(zip(result.rejects["parent_id"], result.rejects["reason"]))
    assert reasons == {"french/smoltalk2/1": "decontamination:mmlu_fr", "french/smoltalk2/2": "decontamination:gpqa_fr:diamond"}
    assert result.removed_per_eval_set["mmlu_fr"] == 1 and result.removed_per_eval_set["gpqa_fr:diamond"] == 1
    assert sum(result.removed_per_eval_set.values()) == 2


def test_scan_in_worker_processes_matches_serial():
    index = index_of(QUESTION)
    conversations = [["rien à voir"], [QUESTION]] * 10_001
    assert scan_conversations(index, conversations, num_proc=2) == scan_conversations(index, conversations, num_proc=1)


def test_bad_eval_set_config_names_the_problem(tmp_path, local_profile):
    with pytest.raises(FileNotFoundError, match=r"eval_sets\[missing\]"):
        build_index([EvalSetSpec(name="missing", data_files=[str(tmp_path / "nope/*.jsonl")], text_fields=["q"])], DecontaminationConfig(), local_profile.resolve_path)
    file = tmp_path / "set.jsonl"
    file.write_text(json.dumps({"question": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(KeyError, match=r"text_fields \['Question'\].*question"):
        build_index([EvalSetSpec(name="s", data_files=[str(file)], text_fields=["Question"])], DecontaminationConfig(), local_profile.resolve_path)
    with pytest.raises(ValueError, match="exactly one of"):
        EvalSetSpec(name="s", data_files=["a.jsonl"], hf_id="x/y", text_fields=["q"])
    assert EVAL.is_dir()
