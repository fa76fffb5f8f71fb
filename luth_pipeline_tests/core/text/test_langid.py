"""The language-ID service and the per-turn French rule, on the labelled chat set and on hand cases."""

import json

import pytest

from luth_pipeline.core.french import FrenchFilterConfig
from luth_pipeline.core.text.langid import LanguageIdentifier
from luth_pipeline.core.text.prose import code_comments, prose, turn_segments
from luth_pipeline_tests.conftest import FIXTURES

CHATS = [json.loads(line) for line in (FIXTURES / "langid" / "french_chats.jsonl").read_text(encoding="utf-8").splitlines()]
TEXTS = [json.loads(line) for line in (FIXTURES / "langid" / "labeled.jsonl").read_text(encoding="utf-8").splitlines()]


def _u(text):
    return {"role": "user", "content": text}


def _a(text):
    return {"role": "assistant", "content": text}


@pytest.fixture(scope="module")
def french():
    return LanguageIdentifier.from_config(FrenchFilterConfig())  # the filter's own settings


def test_labelled_set_covers_the_hard_cases():
    assert len(CHATS) >= 300
    categories = {c["category"] for c in CHATS}
    for needed in ("fr_register_quebec", "fr_register_afrique", "fr_short_chat", "fr_code", "fr_maths", "fr_with_url_turn",
                   "fr_with_emoji_turn", "neighbour_ca", "neighbour_oc", "neighbour_ro", "short_chat_es",
                   "switch_to_en_mid_chat", "slip_paragraph_en", "url_and_emoji_only"):
        assert needed in categories, needed


def test_french_precision_and_recall_on_the_labelled_chats(french, record_property, capsys):
    kept = [french.chat(c["messages"]).ok for c in CHATS]
    is_fr = [c["label"] == "fr" for c in CHATS]
    true_pos = sum(k and f for k, f in zip(kept, is_fr))
    precision = true_pos / sum(kept)
    recall = true_pos / sum(is_fr)
    record_property("precision", precision)
    record_property("recall", recall)
    wrong = sorted({c["category"] for c, k, f in zip(CHATS, kept, is_fr) if k != f})
    with capsys.disabled():
        print(f"\nper-turn French rule on {len(CHATS)} labelled chats: precision {precision:.3f}, recall {recall:.3f}; "
              f"wrong in {wrong or 'none'}")
    assert precision >= 0.98 and recall >= 0.97, wrong


def test_single_texts_are_identified(french):
    long_texts = [t for t in TEXTS if len(t["text"]) > 50]
    accuracy = sum(french.text(t["text"]).language == t["lang"] for t in long_texts) / len(long_texts)
    assert accuracy >= 0.97


def test_a_chat_that_switches_language_names_the_segment(french):
    verdict = french.chat([_u("Peux-tu m'expliquer comment fonctionne la photosynthèse chez les plantes ?"),
                           _a("Les plantes captent la lumière du soleil grâce à la chlorophylle de leurs feuilles."),
                           _u("Thanks, and could you now explain how the roots absorb water from the soil?"),
                           _a("Roots absorb water by osmosis through tiny hairs that greatly increase their surface.")])
    assert not verdict.ok and verdict.language == "en"
    assert verdict.reason.startswith("turn 2 (user) is en") and "2 of 4 segments fail" in verdict.reason
    assert [s.turn for s in verdict.segments] == [0, 1, 2, 3] and all(s.judged_alone for s in verdict.segments)


def test_long_turns_are_judged_paragraph_by_paragraph(french):
    fr = ("Les glaciers des Alpes reculent rapidement, ce qui modifie l'alimentation en eau des vallées. "
          "Les vagues de chaleur sont devenues plus fréquentes et plus intenses depuis une vingtaine d'années. ")
    answer = "\n\n".join([fr * 2, "In short, the key is to be patient and to practise a little every single day.", fr])
    verdict = french.chat([_u("Quelles sont les conséquences du réchauffement climatique ?"), _a(answer)])
    assert not verdict.ok and "turn 1 (assistant) paragraph 1 is en" in verdict.reason


def test_short_turns_are_judged_with_the_conversation(french):
    french_chat = [_u("Comment débuter la course à pied quand on n'a jamais couru ?"),
                   _a("Alternez course et marche lors des premières séances pour habituer votre corps."),
                   _u("Thanks!"), _a("👍")]
    verdict = french.chat(french_chat)
    assert verdict.ok and not verdict.segments[-1].judged_alone  # the whole conversation, judged once more
    assert not french.chat([_u("¿Qué hora es en Madrid?"), _a("Son las cinco de la tarde.")]).ok
    assert french.chat([_u("Ça va ?"), _a("Très bien, merci ! Et vous ?")]).ok


def test_urls_emoji_and_bare_code_are_no_evidence(french):
    verdict = french.chat([_u("https://fr.wikipedia.org/wiki/Paris_(France)"), _a("😂😂😂")])
    assert not verdict.ok and verdict.segments == () and "no natural-language text" in verdict.reason
    assert not french.chat([_u("https://fr.wikipedia.org/wiki/Paris_(France)"),
                            _a("Paris is the capital of France and its largest city by far.")]).ok


def test_code_with_french_comments_is_french(french):
    code = ("```python\ndef est_premier(n):\n    \"\"\"Renvoie vrai si n est un nombre premier.\"\"\"\n"
            "    # il suffit de tester les diviseurs jusqu'à la racine carrée\n"
            "    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))\n```")
    assert "Renvoie vrai si n est un nombre premier." in code_comments(code)
    assert french.chat([_u("Comment vérifier qu'un nombre est premier en Python ?"), _a(code)]).ok


def test_prose_drops_formulas_urls_numbers_and_emoji():
    assert prose("Calculer $f(0)$, f(1) et \\(x^2\\) 🙂 voir https://a.fr/x_(y) ou 3,14.") == "Calculer , et voir ou , ."
    segments = turn_segments(0, "user", "```bash\nls -la\n```", paragraph_chars=400)
    assert segments == []  # code without comments: no language at all


def test_no_global_state_and_seeded_langdetect():
    from langdetect import DetectorFactory

    before = DetectorFactory.seed
    text = "Le lait doit être incorporé progressivement en fouettant sans cesse."
    a, b = LanguageIdentifier(backend="langdetect", seed=1), LanguageIdentifier(backend="langdetect", seed=2)
    first = [a.text(text).probability, b.text(text).probability]
    assert [a.text(text).probability, b.text(text).probability] == first  # each service keeps its own seed
    assert a.text(text).language == "fr" and DetectorFactory.seed == before


def test_the_service_pickles_without_its_model(french):
    import pickle

    french.text("Bonjour tout le monde, comment allez-vous ?")  # loads the model
    clone = pickle.loads(pickle.dumps(french))
    assert clone == french and clone.text("Bonjour tout le monde, comment allez-vous ?").language == "fr"
