"""Question paths and the structural checks that join the chain's steps by them."""

from luth_pipeline.core.scholar.schemas import Answer, QuestionList
from luth_pipeline.core.scholar.structure import check_questions, match_items, path_key, path_label


def _reply(outline: dict[str, int], questions: list[tuple[str, str, str, str]]) -> QuestionList:
    return QuestionList.model_validate({
        "exercises": [{"exercise": e, "question_count": n} for e, n in outline.items()],
        "questions": [{"exercise": e, "part": p, "number": n, "text": t, "pages": [1]} for e, p, n, t in questions],
    })


def test_path_key_ignores_case_accents_and_punctuation_but_keeps_levels():
    assert path_label("Exercice 2", "", "1.") == "Exercice 2 > 1."
    assert path_key("Exercice 2 > Partie A > 1.") == path_key("EXERCICE 2 >  partie a > 1") == "exercice 2>partie a>1"
    assert path_key("Problème > Q3") == path_key("Probleme > Q3.")
    assert path_key("Exercice 1 > 1.a") != path_key("Exercice 1 > 1.b")
    assert path_key("Exercice 1 > 2") != path_key("Exercice 12")
    # the same printed number in two exercises is two questions
    assert path_key("Exercice 1 > 1.") != path_key("Exercice 2 > 1.")


def test_numbering_that_restarts_in_every_exercise_is_kept_whole():
    reply = _reply({"Exercice 1": 2, "Exercice 2": 2}, [
        ("Exercice 1", "", "1.", "Calculer $v_3$."), ("Exercice 1", "", "2.", "Exprimer $v_n$."),
        ("Exercice 2", "Partie A", "1.", "Calculer $g'(x)$."), ("Exercice 2", "Partie B", "1.", "Calculer $h'(x)$."),
    ])
    checked = check_questions(reply)
    assert checked.exam_problem is None and checked.problems == []
    assert [q.number for q in checked.questions] == ["1.", "2.", "1.", "1."]


def test_an_exercise_that_lost_questions_is_rejected_with_the_counts():
    # 31 → 17 in the review: here Exercice 2 announces 3 questions and lists 1, Exercice 3 none.
    reply = _reply({"Exercice 1": 2, "Exercice 2": 3, "Exercice 3": 2}, [
        ("Exercice 1", "", "1.", "a"), ("Exercice 1", "", "2.", "b"), ("Exercice 2", "", "1.", "c"),
    ])
    checked = check_questions(reply, cut_lists=("questions",))
    assert [q.text for q in checked.questions] == ["a", "b"]
    assert [(p.path, p.reason) for p in checked.problems] == [
        ("Exercice 2", "1 of the 3 questions its outline announces (reply cut at max tokens)"),
        ("Exercice 3", "0 of the 2 questions its outline announces (reply cut at max tokens)"),
    ]
    skipped = check_questions(reply)  # the same loss in a reply that ended normally: the model skipped them
    assert skipped.problems[0].reason.endswith("(the model skipped some)")


def test_identical_repeats_are_dropped_and_different_questions_on_one_path_rejected():
    reply = _reply({"Exercice 1": 3}, [
        ("Exercice 1", "", "1.", "a"), ("Exercice 1", "", "1.", "a"),  # read twice (text and page image)
        ("Exercice 1", "", "2.", "b"), ("Exercice 1", "", "2.", "c"),  # two questions, one path
    ])
    checked = check_questions(reply)
    assert checked.repeated == 1 and [q.text for q in checked.questions] == ["a"]
    assert [(p.path, p.question) for p in checked.problems] == [("Exercice 1 > 2.", "b"), ("Exercice 1 > 2.", "c")]
    assert {p.reason for p in checked.problems} == {"different questions share this path"}


def test_nothing_usable_rejects_the_exam():
    assert check_questions(_reply({}, [])).exam_problem == "no question found in the subject"
    no_outline = check_questions(_reply({}, [("Exercice 1", "", "1.", "a")]))
    assert "no outline" in no_outline.exam_problem
    cut_outline = check_questions(_reply({"Exercice 1": 4}, []), cut_lists=("exercises", "questions"))
    assert "inside its outline" in cut_outline.exam_problem
    all_lost = check_questions(_reply({"Exercice 1": 4}, [("Exercice 1", "", "1.", "a")]), cut_lists=("questions",))
    assert all_lost.questions == [] and all_lost.exam_problem.startswith("no usable question (Exercice 1: 1 of the 4")


def test_match_items_joins_by_path_whatever_the_order_and_names_what_is_missing():
    expected = {path_key(p): p for p in ("Exercice 1 > 1.", "Exercice 2 > 1.", "Exercice 2 > 2.")}
    items = [Answer(path="exercice 2 > 1", answer="B1", pages=[2]), Answer(path="Exercice 1 > 1.", answer="A1", pages=[1]),
             Answer(path="Exercice 9 > 1.", answer="?", pages=[])]
    matched = match_items(expected, items, cut=False)
    assert {k: a.answer for k, a in matched.found.items()} == {path_key("Exercice 1 > 1."): "A1", path_key("Exercice 2 > 1."): "B1"}
    assert matched.problems == {path_key("Exercice 2 > 2."): "missing from the reply"}
    assert matched.unknown_paths == ["Exercice 9 > 1."]
    assert match_items(expected, items, cut=True).problems == {path_key("Exercice 2 > 2."): "lost in the reply cut at max tokens"}


def test_two_different_items_for_one_path_reject_it_but_an_exact_repeat_does_not():
    expected = {path_key("E1 > 1"): "E1 > 1"}
    same = [Answer(path="E1 > 1", answer="x", pages=[1]), Answer(path="E1 > 1", answer="x", pages=[1])]
    assert list(match_items(expected, same, cut=False).found) == [path_key("E1 > 1")]
    different = [Answer(path="E1 > 1", answer="x", pages=[1]), Answer(path="E1 > 1", answer="y", pages=[1])]
    assert match_items(expected, different, cut=False).problems == {path_key("E1 > 1"): "the reply gives 2 different items for this question"}
