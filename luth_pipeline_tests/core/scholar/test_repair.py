"""The repair step turns the ways Gemini replies broke upstream into validated objects."""

import json

from luth_pipeline.core.scholar.repair import complete_list_items, fix_latex_escapes, parse_reply
from luth_pipeline.core.scholar.schemas import AnswerList, ContextList, QuestionList, RefinedExercise


def test_clean_reply_is_untouched():
    reply = json.dumps({"answers": [{"path": "Exercice 1 > 1.", "answer": "$\\frac{1}{2}$\nDonc", "pages": [1]}]})
    parsed = parse_reply(reply, AnswerList)
    assert parsed.method == "clean" and parsed.value.answers[0].answer == "$\\frac{1}{2}$\nDonc"


def test_raw_latex_backslashes_are_escaped_not_read_as_tab_or_form_feed():
    # `\tau` and `\frac` would parse "successfully" as TAB+"au" and FORM FEED+"rac".
    reply = '{"answers": [{"path": "Problème > Q2", "answer": "$\\tau = RC$, $\\frac{1}{2}$, $\\{x\\}$\\nSuite", "pages": [1]}]}'
    parsed = parse_reply(reply, AnswerList)
    assert parsed.method == "latex_escapes"
    assert parsed.value.answers[0].answer == "$\\tau = RC$, $\\frac{1}{2}$, $\\{x\\}$\nSuite"


def test_newline_before_a_french_word_stays_a_newline():
    assert fix_latex_escapes('"a\\nEnsuite \\neq b"') == '"a\\nEnsuite \\\\neq b"'


def test_an_item_off_schema_drops_alone_and_is_counted():
    reply = '```json\n{"answers": [{"path": "E1 > 1", "answer": "$x = 2$", "pages": [1]}, {"path": "E1 > 2", "pages": [1]},]}```'
    parsed = parse_reply(reply, AnswerList)
    assert parsed.method == "json_repair"
    assert [a.path for a in parsed.value.answers] == ["E1 > 1"] and parsed.dropped_items == 1


def test_bare_list_and_trailing_commas():
    parsed = parse_reply('[{"path": "E1 > 1", "context": "x",},]', ContextList)
    assert parsed.value.items[0].context == "x"


# A context list cut at max tokens inside the third item's formula (Gemini's finish reason MAX_TOKENS).
CUT_CONTEXTS = ('{"items": [{"path": "Exercice 1 > 1.", "context": "Soit $f(x) = \\frac{1}{x}$."}, '
                '{"path": "Exercice 1 > 2.", "context": "Soit $g$ définie par $g(x) = x^2$."}, '
                '{"path": "Exercice 2 > 1.", "context": "On pose $h(x) = \\frac{x')


def test_a_cut_reply_keeps_only_items_written_out_whole():
    # json_repair would close the open string and return a third context ending mid-formula.
    repaired = parse_reply(CUT_CONTEXTS, ContextList)
    assert repaired.value.items[-1].context == "On pose $h(x) = \\frac{x"
    parsed = parse_reply(CUT_CONTEXTS, ContextList, truncated=True)
    assert parsed.truncated and parsed.method == "complete_items" and parsed.cut_lists == ("items",)
    assert [i.path for i in parsed.value.items] == ["Exercice 1 > 1.", "Exercice 1 > 2."]
    assert parsed.value.items[0].context == "Soit $f(x) = \\frac{1}{x}$."  # raw LaTeX escapes still fixed


def test_complete_list_items_sees_whether_the_list_was_closed():
    closed = '{"items": [{"a": 1}, {"a": 2}]} trailing'
    assert complete_list_items(closed, "items") == ([{"a": 1}, {"a": 2}], True)
    assert complete_list_items('{"items": [{"a": 1}, {"a": 2', "items") == ([{"a": 1}], False)
    assert complete_list_items('{"other": []}', "items") is None


def test_a_cut_question_list_keeps_its_outline_and_names_the_cut_list():
    reply = ('{"exercises": [{"exercise": "Exercice 1", "question_count": 2}], "questions": '
             '[{"exercise": "Exercice 1", "part": "", "number": "1.", "text": "Calculer $u_1$.", "pages": [1]}, {"exer')
    parsed = parse_reply(reply, QuestionList, truncated=True)
    assert parsed.cut_lists == ("questions",) and parsed.value.exercises[0].question_count == 2
    assert [q.number for q in parsed.value.questions] == ["1."]


def test_a_single_object_cut_at_max_tokens_fails():
    reply = '{"question": "Calculer $u_1$.", "context": "", "answer": "On a $u_1 = \\frac{1'
    parsed = parse_reply(reply, RefinedExercise, truncated=True)
    assert parsed.value is None and parsed.truncated and "cut at max tokens" in parsed.error


def test_unusable_replies_fail_with_a_reason():
    assert parse_reply("", QuestionList).error == "empty reply"
    failed = parse_reply("Désolé, je ne peux pas lire ce document.", QuestionList)
    assert failed.method == "failed" and "no JSON" in failed.error
    wrong = parse_reply('{"question": "x"}', RefinedExercise)
    assert wrong.method == "failed" and "RefinedExercise" in wrong.error
