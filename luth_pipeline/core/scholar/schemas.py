"""Pydantic response schemas of the extraction chain and the refinement pass.

Each step asks Gemini for structured output (`json_schema` on the request, sent as the
response schema), so a reply is usually valid JSON already; `repair.parse_reply` validates it
against the same model and repairs what still breaks.

Questions are extracted with their full path (exercise, part, printed number) and every later
step answers per `path`: the chain joins the steps by it (`structure.py`), never by the printed
number, which restarts at « 1. » in every exercise of a Bac subject.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Reply(BaseModel):
    # Replies may carry fields we did not ask for: ignore them rather than failing the exam.
    model_config = ConfigDict(extra="ignore")


class ExerciseOutline(_Reply):
    exercise: str = Field(description="titre de l'exercice ou du problème tel qu'imprimé (« Exercice 2 », « Problème 1 »)")
    question_count: int = Field(description="nombre de questions de cet exercice, toutes parties confondues")


class Question(_Reply):
    exercise: str = Field(description="l'exercice qui contient la question, écrit exactement comme dans `exercises`")
    part: str = Field("", description="la partie de l'exercice (« Partie A ») ; vide s'il n'y en a pas")
    number: str = Field(description="numérotation de la question telle qu'imprimée dans sa partie (« 1. », « 2.b », « Q3 »)")
    text: str = Field(description="énoncé exact de la question, formules en LaTeX entre $…$")
    pages: list[int] = Field(description="pages du sujet où figurent la question et sa mise en situation")


class QuestionList(_Reply):
    # The outline comes first: a reply cut at max tokens still states how many questions each
    # exercise has, so the chain sees which exercises lost questions (`structure.check_questions`).
    exercises: list[ExerciseOutline] = Field(description="plan du sujet, écrit d'abord : chaque exercice et son nombre de questions")
    questions: list[Question]


def _path_field():
    return Field(description="chemin de la question recopié exactement tel que donné (« Exercice 2 > Partie A > 1. »)")


class QuestionContext(_Reply):
    path: str = _path_field()
    context: str = Field(description="mise en situation nécessaire pour répondre (hypothèses, définitions, données)")


class ContextList(_Reply):
    items: list[QuestionContext]


class Answer(_Reply):
    path: str = _path_field()
    answer: str = Field(description="réponse exacte tirée du corrigé, en français, formules en LaTeX ; vide si absente")
    pages: list[int] = Field(description="pages du corrigé où se trouve la réponse (vide si absente)")


class AnswerList(_Reply):
    answers: list[Answer]


class EnrichedContext(_Reply):
    path: str = _path_field()
    context: str = Field(description="contexte complété des résultats des questions précédentes nécessaires")


class EnrichedList(_Reply):
    items: list[EnrichedContext]


class RefinedExercise(_Reply):
    question: str
    context: str
    answer: str = Field(description="réponse rédigée étape par étape, justifiée, logiquement équivalente au corrigé")
    difficulty: Literal["easy", "medium", "hard"]
    needs_figure: bool = Field(description="vrai si la question ne peut se résoudre sans une figure absente du texte")


def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with `$ref`s inlined and titles dropped: Gemini's response
    schema accepts a plain OpenAPI-style object, and a flat schema caches under a stable key."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)
