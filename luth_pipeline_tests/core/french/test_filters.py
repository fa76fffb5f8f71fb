"""The French filter chain: per-step counts add up, rejects carry reasons, dedup catches planted copies."""

import pytest

from luth_pipeline.core.french import FrenchFilterConfig, default_steps, run_filters
from luth_pipeline.core.text.chat import conversation_text
from luth_pipeline.core.text.dedup import NearDeduplicator
from luth_pipeline.core.text.normalize import dedup_key
from luth_pipeline.core.sources import load_source
from luth_pipeline_tests.fixtures.text_bank import FR_TOPICS, OTHER_LANGS

STEP_NAMES = ["valid_chat", "length", "language", "exact_dedup", "near_dedup"]


def _row(i, user, assistant, extra=()):
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}, *extra]
    return {"id": f"t/{i}", "messages": messages, "source": "t", "source_id": str(i), "parent_asset": None, "parent_id": None}


def _distinct_french_rows():
    rows = []
    for t, topic in enumerate(sorted(FR_TOPICS)):
        bank = FR_TOPICS[topic]
        for k in range(2):  # answers from disjoint halves of the topic's sentences
            sentences = bank["sentences"][5 * k : 5 * k + 5]
            rows.append(_row(len(rows), bank["questions"][k], " ".join(sentences)))
    return rows


def test_dedup_catches_planted_near_duplicates_and_keeps_distinct_texts():
    rows = _distinct_french_rows()
    original, other = rows[3], rows[7]
    words = original["messages"][1]["content"].split()
    words[len(words) // 2] = "vraiment"
    near = _row(100, original["messages"][0]["content"], " ".join(words))
    same = _row(101, other["messages"][0]["content"].upper().lower(), other["messages"][1]["content"].replace(".", " !"))
    result = run_filters(rows + [near, same], default_steps(FrenchFilterConfig()))
    by_id = {r["id"]: r for r in result.rejected}
    assert by_id["t/100"]["reason"] == "near_duplicate" and by_id["t/100"]["duplicate_of"] == original["id"]
    assert by_id["t/101"]["reason"] == "exact_duplicate" and by_id["t/101"]["duplicate_of"] == other["id"]
    assert [r["id"] for r in result.kept] == [r["id"] for r in rows]


def test_near_dedup_leaves_answers_sharing_some_sentences():
    sentences = FR_TOPICS["histoire"]["sentences"]
    dedup = NearDeduplicator(threshold=0.7)
    texts = [" ".join(sentences[i : i + 4]) for i in range(0, 7)]  # neighbours share 3 of 4 sentences
    assert [dedup.duplicate_of(str(i), dedup_key(t))[0] for i, t in enumerate(texts)] == [None] * len(texts)


def test_each_step_rejects_with_its_reason():
    fr = " ".join(FR_TOPICS["sciences"]["sentences"][:3])
    en = " ".join(OTHER_LANGS["en"]["sentences"][:3])
    rows = [
        _row(0, "Explique la photosynthèse.", fr),
        _row(1, "Bonjour", "   "),
        _row(2, "Merci", "Oui."),
        _row(3, "Explain photosynthesis.", en),
        {**_row(4, "Question", fr), "messages": [{"role": "user", "content": fr}]},
        _row(5, "Explique la photosynthèse.", None),  # a null turn is a reject, not a crashed partition
        _row(6, "Explique la photosynthèse.", fr, [{"role": "tool", "content": "{}"}]),
        {**_row(7, "Question", fr), "messages": None},
    ]
    result = run_filters(rows, default_steps(FrenchFilterConfig()))
    assert [r["id"] for r in result.kept] == ["t/0"]
    reasons = {r["id"]: r["reason"] for r in result.rejected}
    assert reasons == {"t/1": "empty_turn", "t/2": "too_short", "t/3": "not_french", "t/4": "missing_turn",
                       "t/5": "missing_content", "t/6": "unknown_role", "t/7": "missing_messages"}
    assert "turn 1 (assistant) content is null" in next(r["reason_detail"] for r in result.rejected if r["id"] == "t/5")
    assert result.kept[0]["filters_passed"] == STEP_NAMES and result.kept[0]["french_probability"] >= 0.5
    not_french = next(r for r in result.rejected if r["id"] == "t/3")
    assert not_french["language"] == "en" and not_french["filters_passed"] == ["valid_chat", "length"]


@pytest.mark.parametrize("name", ["smoltalk2", "openhermes_fr"])
def test_filter_counts_add_up_on_a_fixture_source(local_profile, name):
    loaded = load_source(name, local_profile.sources[name], local_profile.resolve_path)
    result = run_filters(loaded.rows, default_steps(local_profile.french), "all")
    assert [s.name for s in result.stats] == STEP_NAMES
    assert result.stats[0].rows_in == len(loaded.rows) == len(result.kept) + len(result.rejected)
    for before, after in zip(result.stats, result.stats[1:]):
        assert before.rows_out == after.rows_in
    for step in result.stats:
        assert step.rows_in == step.rows_out + sum(step.rejected.values())
    assert result.stats[-1].rows_out == len(result.kept)
    assert sum(sum(s.rejected.values()) for s in result.stats) == len(result.rejected)
    # the fixtures plant exact duplicates, normalized-exact and near duplicates, empty turns, other languages
    for reason in ("empty_turn", "not_french", "exact_duplicate", "near_duplicate"):
        assert result.reasons.get(reason, 0) >= 1, reason
    ids = [r["id"] for r in result.kept + result.rejected]
    assert len(ids) == len(set(ids))


def test_language_id_reads_the_configured_turns():
    fr = " ".join(FR_TOPICS["voyage"]["sentences"][:3])
    en = " ".join(OTHER_LANGS["en"]["sentences"][:3])
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": en}, {"role": "assistant", "content": fr}]
    assert conversation_text(messages, "assistant") == fr
    assert conversation_text(messages, "all") == f"{en}\n{fr}"
    row = {"id": "x", "messages": messages, "source": "t", "source_id": "x", "parent_asset": None, "parent_id": None}
    steps = default_steps(FrenchFilterConfig())
    assert len(run_filters([row], steps, "assistant").kept) == 1
    assert run_filters([row], steps, "user").rejected[0]["reason"] == "not_french"
