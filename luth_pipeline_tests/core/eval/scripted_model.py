"""A scripted model plugged into LightEval through its custom-model interface (`LightevalModel`).

`policy(doc) -> bool` says whether to answer a document correctly; the model then produces the
gold answer in a task-appropriate *form* (letters, equivalent maths, IFEval-compliant text) or a
wrong one, so LightEval's real metric code decides the score.
"""

from __future__ import annotations

from collections.abc import Callable

from lighteval.models.abstract_model import LightevalModel
from lighteval.models.dummy.dummy_model import DummyModelConfig
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc
from lighteval.utils.cache_management import SampleCache

# Gold form -> an equivalent form the model writes (French decimal commas, fractions ↔ decimals).
EQUIVALENT_MATH = {
    "\\frac{1}{2}": "0,5",
    "4": "4,0",
    "81": "3^4",
    "2.5": "\\frac{5}{2}",
    "25": "25",
    "\\frac{3}{4}": "0,75",
    "12": "\\sqrt{144}",
    "180": "180",
    "7": "7",
    "30": "30,00",
}

# Kholle gold answer -> an equivalent form with other units notation / decimal commas / case.
EQUIVALENT_KHOLLE = {
    "12 V": "12\\,\\text{V}",
    "0,25": "\\frac{1}{4}",
    "5 m/s": "5\\,\\text{m}\\cdot\\text{s}^{-1}",
    "a": "A",
    "6 N": "6{,}0\\,\\mathrm{N}",
    "18 J": "18",
    "\\frac{3}{4}": "0,75",
}

# IFEval-fr prompts (fixture) -> a response that follows every instruction.
IFEVAL_FR_COMPLIANT = {
    "marché": "Le marché sent la *lavande* et les olives.",
    "vague": "La vague apporte le sel de la mer.",
    "virgule": "Du pain frais et du café chaud.",
    "ciel": "Le ciel est *bleu* car la lumière bleue est *davantage diffusée*.",
    "boulanger": "Je suis motivé pour ce poste. Avez-vous d'autres questions ?",
    "Loire": "<<La Loire>>\nLe plus long fleuve de France.",
    "proverbe": '"Petit à petit, l\'oiseau fait son nid : la patience paie."',
    "Lyon": "Lyon est une grande ville au bord du Rhône.",
    "Petit Prince": "Un petit prince voyage de planète en planète.",
    "dormir": "* Se coucher tôt.\n* Éviter les écrans.\n* Dormir au frais.",
    "cinéma": "Salut, viens au cinéma samedi !\nP.S. J'apporte le pop-corn.",
}


def _asks_for_reasoned_letter(doc: Doc) -> bool:
    return "$LETTRE" in doc.query or "$LETTER" in doc.query


def _is_kholle(doc: Doc) -> bool:
    return "exercice de maths, de physique ou de SVT" in doc.query


def _gold_text(doc: Doc) -> str:
    gold = doc.get_golds()[0]
    if _is_kholle(doc):
        return f"Donc, la réponse finale est : $\\boxed{{{EQUIVALENT_KHOLLE.get(gold, gold)}}}$. J'espère que c'est correct"
    if "\\boxed{" in gold:  # maths: write the boxed answer in an equivalent form
        inner = gold.split("\\boxed{", 1)[1].rsplit("}", 1)[0]
        return f"Donc, la réponse finale est : $\\boxed{{{EQUIVALENT_MATH.get(inner, inner)}}}$. J'espère que c'est correct"
    if doc.specific and "instructions_id_list" in doc.specific:
        return next(text for hint, text in IFEVAL_FR_COMPLIANT.items() if hint in doc.query)
    if _asks_for_reasoned_letter(doc):  # GPQA: "... 'Réponse : $LETTRE' ..."
        return f"Je réfléchis étape par étape.\nRéponse : {gold}"
    return gold.strip()


def _wrong_text(doc: Doc) -> str:
    if _is_kholle(doc) or doc.get_golds()[0].count("\\boxed{"):
        return "Donc, la réponse finale est : $\\boxed{1234}$."
    if doc.specific and "instructions_id_list" in doc.specific:
        return ""  # an empty answer follows no instruction
    gold_index = doc.gold_index if isinstance(doc.gold_index, int) else doc.gold_index[0]
    wrong = doc.choices[(gold_index + 1) % len(doc.choices)].strip()
    return f"Réponse : {wrong}" if _asks_for_reasoned_letter(doc) else wrong


class ScriptedModel(LightevalModel):
    def __init__(self, policy: Callable[[Doc], bool], cache_dir: str):
        self.policy = policy
        self.config = DummyModelConfig(model_name="scripted", cache_dir=cache_dir)
        self._cache = SampleCache(self.config)
        self.seen: list[Doc] = []

    @property
    def tokenizer(self):
        return None

    @property
    def add_special_tokens(self) -> bool:
        return False

    @property
    def max_length(self) -> int:
        return 4096

    def greedy_until(self, docs: list[Doc]) -> list[ModelResponse]:
        self.seen.extend(docs)
        return [ModelResponse(text=[_gold_text(d) if self.policy(d) else _wrong_text(d)]) for d in docs]

    def loglikelihood(self, docs: list[Doc]) -> list[ModelResponse]:
        self.seen.extend(docs)
        responses = []
        for doc in docs:
            gold = doc.gold_index if isinstance(doc.gold_index, int) else doc.gold_index[0]
            chosen = gold if self.policy(doc) else (gold + 1) % len(doc.choices)
            logprobs = [-0.1 if i == chosen else -5.0 for i in range(len(doc.choices))]
            responses.append(ModelResponse(logprobs=logprobs, argmax_logits_eq_gold=[i == gold for i in range(len(doc.choices))]))
        return responses

    def loglikelihood_rolling(self, docs: list[Doc]) -> list[ModelResponse]:
        raise NotImplementedError("no perplexity task in the suites")
