"""French filter settings (profile section `french`)."""

from typing import Literal

from pydantic import Field

from luth_pipeline.core.config.base import StrictModel


class FrenchFilterConfig(StrictModel):
    language: str = "fr"
    # Per-turn rule (core/text/langid.py): every turn, or paragraph of a turn longer than
    # `paragraph_chars`, with at least `min_segment_letters` letters of prose (code reduced to its
    # comments; LaTeX, URLs, numbers, emoji removed) must give `language` at least this probability;
    # when some are shorter, the whole conversation must too. Chosen on the labelled chat set
    # (benchmarks/french_filter.py, RESULTS.md): fastText's probabilities are calibrated per segment,
    # 0.9 drops 11 % of French chats (short or technical paragraphs) without dropping any more
    # foreign ones than 0.5.
    min_probability: float = Field(0.5, ge=0.0, le=1.0)
    langid_backend: Literal["fasttext", "langdetect"] = "fasttext"
    min_segment_letters: int = Field(25, ge=1)
    paragraph_chars: int = Field(400, ge=1)
    # langdetect samples n-grams at random: a fixed seed makes its decisions reproducible (used by the
    # `langdetect` backend and the share check's independent re-read).
    langdetect_seed: int = 0
    # Conversation text length bounds (user + assistant turns, characters).
    min_chars: int = Field(20, ge=0)
    max_chars: int = Field(100_000, ge=1)
    # Near-duplicates: MinHash over word 5-shingles; pairs above this estimated Jaccard are merged.
    # 0.7 leaves LSH room below true near-duplicates (one edited word: Jaccard ≈ 0.85) while
    # answers sharing half their sentences stay far below it (≈ 0.5).
    minhash_threshold: float = Field(0.7, gt=0.0, le=1.0)
    minhash_num_perm: int = Field(128, ge=16)
    shingle_size: int = Field(5, ge=1)
    # Asset check: the kept rows' French share must be at least this.
    min_french_share: float = Field(0.95, ge=0.0, le=1.0)
