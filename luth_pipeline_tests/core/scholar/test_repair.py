"""The repair step turns the ways Gemini replies broke upstream into validated objects."""

import json

from luth_pipeline.core.scholar.repair import fix_latex_escapes, parse_reply
from luth_pipeline.core.scholar.schemas import AnswerList, QuestionList, RefinedExercise


def test_clean_reply_is_untouched():
    reply = json.dumps({"answers": [{"number": "1", "answer": "$\\frac{1}{2}$\nDonc", "pages": [1]}]})
    parsed = parse_reply(reply, AnswerList)
    assert parsed.method == "clean" and parsed.value.answers[0].answer == "$\\frac{1}{2}$\nDonc"


def test_raw_latex_backslashes_are_escaped_not_read_as_tab_or_form_feed():
    # `\tau` and `\frac` would parse "successfully" as TAB+"au" and FORM FEED+"rac".
    reply = '{"answers": [{"number": "Q2", "answer": "$\\tau = RC$, $\\frac{1}{2}$, $\\{x\\}$\\nSuite", "pages": [1]}]}'
    parsed = parse_reply(reply, AnswerList)
    assert parsed.method == "latex_escapes"
    assert parsed.value.answers[0].answer == "$\\tau = RC$, $\\frac{1}{2}$, $\\{x\\}$\nSuite"


def test_newline_before_a_french_word_stays_a_newline():
    assert fix_latex_escapes('"a\\nEnsuite \\neq b"') == '"a\\nEnsuite \\\\neq b"'


def test_reply_cut_at_max_tokens_keeps_complete_items():
    reply = '```json\n{"questions": [{"number": "1", "text": "Calculer $u_1$.", "pages": [1]}, {"number": "2", "te'
    parsed = parse_reply(reply, QuestionList)
    assert parsed.method == "json_repair"
    assert [q.number for q in parsed.value.questions] == ["1"] and parsed.dropped_items == 1


def test_bare_list_and_trailing_commas():
    parsed = parse_reply('[{"number": "1", "text": "x", "pages": [2],},]', QuestionList)
    assert parsed.value.questions[0].pages == [2]


def test_unusable_replies_fail_with_a_reason():
    assert parse_reply("", QuestionList).error == "empty reply"
    failed = parse_reply("Désolé, je ne peux pas lire ce document.", QuestionList)
    assert failed.method == "failed" and "no JSON" in failed.error
    wrong = parse_reply('{"question": "x"}', RefinedExercise)
    assert wrong.method == "failed" and "RefinedExercise" in wrong.error
