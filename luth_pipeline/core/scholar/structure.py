"""Where a question sits in its exam, and the checks that join the chain's steps by it.

Bac subjects restart their numbering at « 1. » in every exercise (CPGE problems in every
part), so a printed number names several questions: joined by it, the answers of an exam whose
numbering restarts went to the wrong questions. Step 1 extracts each question's full path
(exercise, part, printed number); steps 2–4 receive the path with each question and return it
with each item, and the chain joins them by the path's normalised key. Every step is also
checked for what it lost, so a reply never silently yields fewer items:

- step 1 writes its outline (each exercise and its number of questions) before the questions.
  An exercise whose listed questions differ from its announced count lost some (the reply was
  cut at max tokens, or the model skipped them): it is rejected whole, with the reason.
- steps 2–4 must return every question they were sent: a question missing from the reply
  (skipped, or after the cut of a reply stopped at max tokens), or given two different items,
  is rejected with the reason.
"""

from __future__ import annotations

import collections
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from luth_pipeline.core.scholar.schemas import Question, QuestionList

SEPARATOR = " > "
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def path_label(exercise: str, part: str, number: str) -> str:
    """The path as the model reads and writes it: « Exercice 2 > Partie A > 1. »."""
    return SEPARATOR.join(p.strip() for p in (exercise, part, number) if p and p.strip())


def question_path(question: Question) -> str:
    return path_label(question.exercise, question.part, question.number)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", text).strip()


def path_key(label: str) -> str:
    """The join key of a path: case, accents and punctuation do not matter (« 1. » = « 1 »,
    « EXERCICE 2 » = « Exercice 2 »), the levels do (« Exercice 1 > 2 » ≠ « Exercice 12 »)."""
    return ">".join(n for n in (_normalize(level) for level in label.split(">")) if n)


@dataclass
class Problem:
    """An exercise or question the checks reject: its path, the question's text, why."""

    path: str
    reason: str
    question: str = ""


@dataclass
class CheckedQuestions:
    questions: list[Question]  # usable, in subject order, one per path
    problems: list[Problem] = field(default_factory=list)
    exam_problem: str | None = None  # nothing usable: the whole exam is rejected for this
    repeated: int = 0  # identical repeats dropped (a page read as text and as an image)


def check_questions(reply: QuestionList, cut_lists: Sequence[str] = ()) -> CheckedQuestions:
    """Step 1's reply against its own outline; `cut_lists`: lists a reply cut at max tokens left open."""
    if "exercises" in cut_lists:
        return CheckedQuestions([], exam_problem="reply cut at max tokens inside its outline of the exercises")
    lost_because = "reply cut at max tokens" if "questions" in cut_lists else "the model skipped some"

    unique, repeated, texts = [], 0, collections.defaultdict(set)
    for question in reply.questions:
        key = path_key(question_path(question))
        if question.text.strip() in texts[key]:
            repeated += 1
            continue
        texts[key].add(question.text.strip())
        unique.append(question)

    announced, names = collections.Counter(), {}
    for exercise in reply.exercises:
        announced[_normalize(exercise.exercise)] += exercise.question_count
        names.setdefault(_normalize(exercise.exercise), exercise.exercise.strip())
    listed = collections.Counter(_normalize(q.exercise) for q in unique)
    for question in unique:
        names.setdefault(_normalize(question.exercise), question.exercise.strip())
    if not announced and listed:
        return CheckedQuestions([], exam_problem="the reply has no outline: the number of questions per exercise is unknown")

    problems, incomplete = [], set()
    for key in dict.fromkeys([*announced, *listed]):
        expected, found = announced.get(key, 0), listed.get(key, 0)
        if key not in announced:
            reason = f"{found} question(s) listed under an exercise its outline does not announce"
        elif found < expected:
            reason = f"{found} of the {expected} questions its outline announces ({lost_because})"
        elif found > expected:
            reason = f"{found} questions listed where its outline announces {expected}"
        else:
            continue
        incomplete.add(key)
        problems.append(Problem(names[key] or "(no exercise)", reason))

    kept = [q for q in unique if _normalize(q.exercise) not in incomplete]
    shared = collections.Counter(path_key(question_path(q)) for q in kept)
    for question in kept:
        if shared[path_key(question_path(question))] > 1:
            problems.append(Problem(question_path(question), "different questions share this path", question.text))
    kept = [q for q in kept if shared[path_key(question_path(q))] == 1]
    if not kept:
        summary = "; ".join(f"{p.path}: {p.reason}" for p in problems[:4])
        return CheckedQuestions([], exam_problem=f"no usable question ({summary})" if summary else "no question found in the subject",
                                repeated=repeated)
    return CheckedQuestions(kept, problems, repeated=repeated)


@dataclass
class MatchedItems:
    found: dict[str, BaseModel]  # path key → the step's item for that question
    problems: dict[str, str]  # path key → why the question has no usable item
    unknown_paths: list[str]  # paths in the reply that were never sent


def match_items(expected: Mapping[str, str], items: Sequence[BaseModel], cut: bool) -> MatchedItems:
    """Join a step's items (each with a `path`) to the questions sent (`expected`: key → path).

    `cut`: the reply stopped at max tokens, so a missing question was lost after the cut."""
    by_key = collections.defaultdict(list)
    for item in items:
        by_key[path_key(item.path)].append(item)
    found, problems = {}, {}
    for key in expected:
        versions = {json.dumps(i.model_dump(exclude={"path"}), sort_keys=True, ensure_ascii=False) for i in by_key.get(key, [])}
        if not versions:
            problems[key] = "lost in the reply cut at max tokens" if cut else "missing from the reply"
        elif len(versions) > 1:
            problems[key] = f"the reply gives {len(versions)} different items for this question"
        else:
            found[key] = by_key[key][0]
    unknown = [items_[0].path for key, items_ in by_key.items() if key not in expected]
    return MatchedItems(found, problems, unknown)
