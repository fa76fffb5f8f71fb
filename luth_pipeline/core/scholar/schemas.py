"""Pydantic response schemas of the extraction chain and the refinement pass.

Each step asks Gemini for structured output (`json_schema` on the request, sent as the
response schema), so a reply is usually valid JSON already; `repair.parse_reply` validates it
against the same model and repairs what still breaks.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Reply(BaseModel):
    # Replies may carry fields we did not ask for: ignore them rather than failing the exam.
    model_config = ConfigDict(extra="ignore")


class Question(_Reply):
    number: str = Field(description="numérotation de la question telle qu'imprimée (ex. « 1.a », « II.3 »)")
    text: str = Field(description="énoncé exact de la question, formules en LaTeX entre $…$")
    pages: list[int] = Field(description="pages du sujet où figurent la question et sa mise en situation")


class QuestionList(_Reply):
    questions: list[Question]


class QuestionContext(_Reply):
    number: str
    context: str = Field(description="mise en situation nécessaire pour répondre (hypothèses, définitions, données)")


class ContextList(_Reply):
    items: list[QuestionContext]


class Answer(_Reply):
    number: str
    answer: str = Field(description="réponse exacte tirée du corrigé, en français, formules en LaTeX ; vide si absente")
    pages: list[int] = Field(description="pages du corrigé où se trouve la réponse (vide si absente)")


class AnswerList(_Reply):
    answers: list[Answer]


class EnrichedContext(_Reply):
    number: str
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
