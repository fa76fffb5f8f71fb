"""French filter settings (profile section `french`)."""

from pydantic import Field

from luth_pipeline.core.config.base import StrictModel


class FrenchFilterConfig(StrictModel):
    language: str = "fr"
    # A row is French when langdetect gives `language` at least this probability.
    min_probability: float = Field(0.9, ge=0.0, le=1.0)
    # langdetect samples n-grams at random: a fixed seed makes its decisions reproducible.
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
    # Speed: language ID first reads a bounded excerpt (`excerpt_windows` windows from the start to
    # the end of the text, `excerpt_chars` in all, `fast_trials` langdetect trials each, stopped
    # once a language reaches `clear_cut`); texts whose windows disagree or are not clear-cut (or
    # whose mean lies within `fallback_margin` of the threshold) are re-read in full exactly as
    # plain langdetect does. `excerpt_chars: 0` always reads in full. Tuned on benchmarks/french_filter.py.
    excerpt_chars: int = Field(160, ge=0)
    excerpt_windows: int = Field(2, ge=1)
    fast_trials: int = Field(1, ge=1, le=7)
    clear_cut: float = Field(0.99, gt=0.5, le=1.0)
    fallback_margin: float = Field(0.05, ge=0.0)
    # Process pool over all cores (profile `num_proc`) above this many rows; below it the pool's
    # start-up costs more than it saves.
    parallel_min_rows: int = Field(2000, ge=0)
    chunk_size: int = Field(256, ge=1)
