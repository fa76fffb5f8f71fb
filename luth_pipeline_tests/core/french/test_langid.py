"""Language ID on the labeled fixture set, determinism, and the fast path's agreement with langdetect."""

import json
import threading

import pytest

from luth_pipeline.core.french import LanguageScorer, full_probability, naive_probability, score_texts
from luth_pipeline.core.french.langid import _pool_context, excerpt_segments
from luth_pipeline_tests.conftest import FIXTURES
from luth_pipeline_tests.fixtures.text_bank import FR_TOPICS, OTHER_LANGS

LABELED = [json.loads(line) for line in (FIXTURES / "langid" / "labeled.jsonl").read_text(encoding="utf-8").splitlines()]


def _accuracy(items, detect) -> float:
    return sum(detect(item["text"]) == item["lang"] for item in items) / len(items)


def test_labeled_set_is_large_and_multilingual():
    assert len(LABELED) >= 120
    assert {item["lang"] for item in LABELED} == {"fr", "en", "es", "de", "it", "pt"}
    assert sum(len(item["text"]) > 50 for item in LABELED) >= 120


@pytest.mark.parametrize("which", ["naive", "scorer"])
def test_language_id_accuracy_on_labeled_texts(which, record_property, capsys):
    scorer = LanguageScorer(excerpt_chars=60)  # short excerpt: the fast path is exercised on these texts
    detect = (lambda t: naive_probability(t).top_language) if which == "naive" else (lambda t: scorer(t).top_language)
    long_items = [i for i in LABELED if len(i["text"]) > 50]
    short_items = [i for i in LABELED if len(i["text"]) <= 50]
    long_acc, short_acc = _accuracy(long_items, detect), _accuracy(short_items, detect)
    record_property(f"{which}_accuracy_over_50_chars", long_acc)
    with capsys.disabled():
        print(f"\n{which}: accuracy {long_acc:.3f} on {len(long_items)} texts > 50 chars, "
              f"{short_acc:.3f} on {len(short_items)} shorter ones")
    assert long_acc >= 0.95


def test_seeded_langdetect_is_deterministic():
    texts = [item["text"] for item in LABELED[:40]]
    assert [naive_probability(t) for t in texts] == [naive_probability(t) for t in texts]


def test_process_pool_gives_the_same_scores_as_one_process():
    texts = [item["text"] for item in LABELED[::3]]
    scorer = LanguageScorer(excerpt_chars=80)
    expected = [scorer(t) for t in texts]
    # a single-threaded process forks its workers (pytest-xdist workers run threads: they spawn)
    assert _pool_context().get_start_method() == ("fork" if threading.active_count() == 1 else "spawn")
    assert score_texts(texts, scorer, num_proc=2, chunk_size=16) == expected
    # with another thread alive (as under Dagster) the pool spawns fresh workers instead
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, daemon=True)
    busy.start()
    try:
        assert _pool_context().get_start_method() == "spawn"
        assert score_texts(texts, scorer, num_proc=2, chunk_size=16) == expected
    finally:
        stop.set()


def _doc(sentences, start, n=5):
    return " ".join(sentences[(start + k) % len(sentences)] for k in range(n))


def test_fast_path_decisions_match_full_langdetect_including_mixed_texts():
    french = [s for topic in sorted(FR_TOPICS) for s in FR_TOPICS[topic]["sentences"]]
    english, spanish = OTHER_LANGS["en"]["sentences"], OTHER_LANGS["es"]["sentences"]
    docs = [_doc(french, i) for i in range(0, 120, 3)] + [_doc(english, i) for i in range(10)]
    docs += [_doc(spanish, i, 4) for i in range(8)]
    # French that switches to English half-way: the excerpt sees both, so these are read in full
    docs += [_doc(french, i, 3) + " " + _doc(english, i, 3) for i in range(10)]
    scorer = LanguageScorer(excerpt_chars=240)
    fast = [scorer(d) for d in docs]
    naive = [naive_probability(d) for d in docs]
    assert [f.probability >= 0.9 for f in fast] == [n.probability >= 0.9 for n in naive]
    assert any(not f.full_read for f in fast), "the excerpt path was never taken"
    # full reads run langdetect's own trials (numpy products): the same numbers up to rounding
    full = [(f, n) for f, n in zip(fast, naive, strict=True) if f.full_read]
    assert full and all(f.top_language == n.top_language and abs(f.probability - n.probability) < 1e-12 for f, n in full)


def test_excerpt_reads_start_middle_and_end():
    text = "a" * 100 + "b" * 100 + "c" * 100
    assert excerpt_segments(text, 30, windows=3) == ["a" * 10, "b" * 10, "c" * 10]
    assert excerpt_segments(text, 30, windows=2) == ["a" * 15, "c" * 15]
    assert excerpt_segments("court", 30) == ["court"]


def test_fast_detector_returns_exactly_plain_langdetect_probabilities():
    from benchmarks.french_filter import make_documents

    texts = [item["text"] for item in LABELED] + make_documents(150, 620, seed=3)
    texts += ["HELLO WORLD  this  IS A Test", "ÉTÉ   été  Éléphant", "a  b", " x ", "x" * 30]
    assert [full_probability(t) for t in texts] == [naive_probability(t) for t in texts]


def test_block_detector_draws_what_langdetect_draws_and_agrees_to_rounding():
    from benchmarks.french_filter import make_documents
    from luth_pipeline.core.french.langid import BlockDetector, FastDetector, _probabilities

    texts = [item["text"] for item in LABELED] + make_documents(150, 620, seed=5)
    for trials, converge in ((None, None), (1, 0.99)):  # full reads, and the excerpt windows' quick trial
        for text in texts:
            exact = _probabilities(text, 0, trials, converge, FastDetector)
            blocked = _probabilities(text, 0, trials, converge, BlockDetector)
            assert exact.keys() == blocked.keys(), text
            assert all(abs(exact[k] - blocked[k]) < 1e-12 for k in exact), text


def test_text_without_letters_is_unknown_not_an_error():
    score = naive_probability("1234 + 5678 = 6912")
    assert score.top_language in {"unknown"} or score.probability < 0.9
    assert naive_probability("").top_language == "unknown"
