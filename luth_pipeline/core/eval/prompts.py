"""Prompt functions (dataset row -> LightEval `Doc`) for each task family, French and English.

They are upstream's prompts (kurakurai/Luth src/eval/prompts.py for the French tasks, LightEval
0.10's `extended|ifeval`, `leaderboard|mmlu/hellaswag/arc:challenge` and the simple-evals GPQA/MATH
prompts for the English ones): simple-evals style MCQ with a "Réponse : $LETTRE" last line for GPQA,
a boxed final answer for maths (and for Kholle, units and MCQ options allowed), lettered endings for
HellaSwag-fr, Oui/Non for BoolQ, LightEval's multilingual MCQ template for MMLU-fr, `Question: …
Answer:` with the answer texts for ARC, the harness prompts for English MMLU and HellaSwag.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import partial
from string import ascii_uppercase

from lighteval.tasks.requests import Doc
from lighteval.tasks.templates.multichoice import get_mcq_prompt_function
from lighteval.tasks.templates.utils.formulation import MCFFormulation
from lighteval.utils.language import Language

from luth_pipeline.core.eval.datasets import EvalTaskSpec

LANGUAGES = {"fr": Language.FRENCH, "en": Language.ENGLISH}

GPQA_TEMPLATE = {
    "fr": (
        "Répondez à la question à choix multiple suivante. La dernière ligne de votre réponse doit avoir "
        "le format suivant : 'Réponse : $LETTRE' (sans les guillemets) où LETTRE est l'une de A, B, C ou D. "
        "Réfléchissez étape par étape avant de répondre.\n\n{question}\n\nA) {A}\nB) {B}\nC) {C}\nD) {D}"
    ),
    "en": (
        "Answer the following multiple choice question. The last line of your response should be of the "
        "following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. "
        "Think step by step before answering.\n\n{question}\n\nA) {A}\nB) {B}\nC) {C}\nD) {D}"
    ),
}
# Upstream's texts character for character (typographic apostrophes in French, LightEval's double
# space in English): src/eval/prompts.py prompt_math_500_fr / prompt_aime_fr, LightEval 0.10
# default_prompts.math_500 / aime_prompt_fn (the same English text for both).
MATH_TEMPLATE = {
    ("fr", "math"): (
        "Résous le problème de mathématiques suivant de manière efficace et claire. La dernière ligne de ta "
        "réponse doit être au format suivant : 'Donc, la réponse finale est : $\\boxed{{RÉPONSE}}$. "
        "J’espère que c’est correct' (sans les guillemets), où RÉPONSE est simplement le nombre ou "
        "l’expression qui résout le problème. Raisonne étape par étape avant de répondre.\n\n{problem}"
    ),
    ("fr", "aime"): (
        "Résous clairement et efficacement le problème de mathématiques suivant. La dernière ligne de ta "
        "réponse doit être au format suivant : 'Donc, la réponse finale est : $\\boxed{{RÉPONSE}}$. "
        "J’espère que c’est correct' (sans les guillemets), où RÉPONSE est simplement le nombre ou "
        "l’expression finale qui résout le problème. Réfléchis étape par étape avant de répondre.\n\n{problem}"
    ),
    ("en", "math"): (
        "Solve the following math problem efficiently and clearly.  The last line of your response should "
        "be of the following format: 'Therefore, the final answer is: $\\boxed{{ANSWER}}$. I hope it is "
        "correct' (without quotes) where ANSWER is just the final number or expression that solves the "
        "problem. Think step by step before answering.\n\n{problem}"
    ),
}
MATH_TEMPLATE[("en", "aime")] = MATH_TEMPLATE[("en", "math")]
# Kholle (French CPGE oral exams and bac exercises in maths, physics, biology): upstream's intent —
# reason step by step, end on a boxed answer with its unit, copy the right option for an MCQ.
KHOLLE_TEMPLATE = (
    "Tu résous un exercice de maths, de physique ou de SVT. Raisonne étape par étape avant de conclure. "
    "La dernière ligne de ta réponse doit être au format suivant : 'Donc, la réponse finale est : "
    "$\\boxed{{RÉPONSE}}$. J'espère que c'est correct' (sans les guillemets), où RÉPONSE est l'expression "
    "ou le nombre trouvé (avec son unité s'il en a une) ; pour un QCM, recopie la bonne réponse.\n\n{problem}"
)
HELLASWAG_HEADER = {
    "fr": "Voici une série de questions à choix multiples (avec réponses) pour évaluer le bon sens.\n\n",
    "en": "The following are multiple choice questions (with answers) about common sense.\n\n",
}
HELLASWAG_ANSWER = {"fr": "Réponse:", "en": "Answer:"}
BOOLQ = {"fr": ("Passage", "Question", "Réponse", ["Non", "Oui"]), "en": ("Passage", "Question", "Answer", ["No", "Yes"])}


def stable_position(text: str, n: int) -> int:
    """Where the gold choice goes: fixed per question (upstream draws it at random each run,
    which makes two runs of the same model disagree for no reason)."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % n


def ifeval_prompt(line: dict, task_name: str = "") -> Doc:
    return Doc(
        task_name=task_name,
        query=line["prompt"],
        choices=[""],
        gold_index=0,
        specific={"instructions_id_list": list(line["instruction_id_list"]), "kwargs": list(line["kwargs"])},
    )


def gpqa_prompt(line: dict, task_name: str = "", *, language: str, question_field: str) -> Doc:
    question = line[question_field]
    choices = [line["Incorrect Answer 1"], line["Incorrect Answer 2"], line["Incorrect Answer 3"]]
    gold = stable_position(question, 4)
    choices.insert(gold, line["Correct Answer"])
    query = GPQA_TEMPLATE[language].format(question=question, **dict(zip("ABCD", choices)))
    return Doc(task_name=task_name, query=query, choices=list("ABCD"), gold_index=gold)


def _boxed(answer: str) -> str:
    return answer if "\\boxed" in answer else f"$\\boxed{{{answer}}}$"


def math_prompt(line: dict, task_name: str = "", *, language: str, gold_field: str, template: str = "math") -> Doc:
    return Doc(
        task_name=task_name,
        query=MATH_TEMPLATE[(language, template)].format(problem=line["problem"]),
        choices=[_boxed(str(line[gold_field]))],
        gold_index=0,
    )


def kholle_prompt(line: dict, task_name: str = "") -> Doc:
    answers = line["answer"] if isinstance(line["answer"], list) else [line["answer"]]
    answers = [str(a) for a in answers]
    return Doc(task_name=task_name, query=KHOLLE_TEMPLATE.format(problem=line["problem"]), choices=answers,
               gold_index=list(range(len(answers))))  # every listed form is accepted


def hellaswag_prompt(line: dict, task_name: str = "", *, language: str) -> Doc:
    context = f"{line['ctx_a']} {line['ctx_b'].capitalize()}".strip()
    letters = ascii_uppercase[: len(line["endings"])]
    query = HELLASWAG_HEADER[language] + f"Question: {context}\n"
    query += "".join(f"{letter}. {ending}\n" for letter, ending in zip(letters, line["endings"]))
    query += HELLASWAG_ANSWER[language]
    label = str(line["label"]).strip()
    return Doc(task_name=task_name, query=query, choices=[f" {letter}" for letter in letters],
               gold_index=int(label) if label else -1)


def boolq_prompt(line: dict, task_name: str = "", *, language: str) -> Doc:
    passage, question_word, answer_word, choices = BOOLQ[language]
    question = re.sub(r"\?\?$", "?", line["question"].strip())
    return Doc(
        task_name=task_name,
        query=f"{passage}: {line['passage']}\n{question_word}: {question}\n{answer_word}: ",
        choices=choices,
        gold_index=int(line["label"]),
    )


def _mmlu_letters(line: dict) -> dict:
    return {
        "question": line["Question"],
        "choices": [line["A"], line["B"], line["C"], line["D"]],
        "gold_idx": ascii_uppercase.index(line["Answer"].strip()),
    }


def hellaswag_preprocess(text: str) -> str:
    """LM Evaluation Harness's HellaSwag clean-up (LightEval 0.10 `hellaswag_preprocess`): WikiHow's
    ` [title]` becomes a sentence end, other bracketed artifacts go, double spaces collapse."""
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def hellaswag_harness_prompt(line: dict, task_name: str = "") -> Doc:
    """LightEval 0.10 `leaderboard|hellaswag` (upstream's English HellaSwag): the endings scored by
    log-likelihood after `activity: context`."""
    context = f"{line['ctx_a']} {line['ctx_b'].capitalize()} "
    label = str(line["label"]).strip()
    return Doc(
        task_name=task_name,
        query=hellaswag_preprocess(line["activity_label"] + ": " + context),
        choices=[hellaswag_preprocess(ending) for ending in line["endings"]],
        gold_index=int(label) if label else -1,
    )


def mmlu_harness_prompt(line: dict, task_name: str = "") -> Doc:
    """LightEval 0.10 `leaderboard|mmlu` (`mmlu_harness`): the letters scored by log-likelihood."""
    topic = line["subject"].replace("_", " ")
    instruction = f"The following are multiple choice questions (with answers) about {topic}.\n\n"
    query = instruction + line["question"] + "\n"
    query += "".join(f"{letter}. {choice}\n" for letter, choice in zip(ascii_uppercase, line["choices"]))
    query += "Answer:"
    answer = line["answer"]
    gold = ascii_uppercase.index(answer) if isinstance(answer, str) else int(answer)
    return Doc(task_name=task_name, query=query, choices=[" A", " B", " C", " D"], gold_index=gold, instruction=instruction)


def arc_prompt(line: dict, task_name: str = "") -> Doc:
    """Upstream's ARC prompt in both languages (LightEval 0.10 `arc`, upstream `prompt_arc_fr`, both
    `Question: …\nAnswer:` with the answer texts scored by log-likelihood). allenai/ai2_arc nests the
    choices with their labels; manu/french_bench_arc_challenge has a plain `choices` list lettered A-D."""
    choices = line["choices"]
    if isinstance(choices, dict):
        texts, gold = list(choices["text"]), list(choices["label"]).index(line["answerKey"])
    else:
        texts, gold = list(choices), ["A", "B", "C", "D"].index(line["answerKey"].strip())
    return Doc(task_name=task_name, query=f"Question: {line['question']}\nAnswer:", choices=[f" {c}" for c in texts],
               gold_index=gold)


def prompt_function(spec: EvalTaskSpec) -> Callable[[dict, str], Doc]:
    language = spec.language
    match spec.kind:
        case "ifeval":
            return ifeval_prompt
        case "gpqa":
            return partial(gpqa_prompt, language=language, question_field=spec.question_field or "Question")
        case "math":
            return partial(math_prompt, language=language, gold_field=spec.gold_field or "answer",
                           template=spec.math_template)
        case "kholle":
            return kholle_prompt
        case "hellaswag":
            return partial(hellaswag_prompt, language=language)
        case "hellaswag_harness":
            return hellaswag_harness_prompt
        case "boolq":
            return partial(boolq_prompt, language=language)
        case "mmlu_letters":
            return get_mcq_prompt_function(LANGUAGES[language], _mmlu_letters, formulation=MCFFormulation())
        case "mmlu_harness":
            return mmlu_harness_prompt
        case "arc":
            return arc_prompt
    raise ValueError(f"no prompt for task kind {spec.kind!r}")
