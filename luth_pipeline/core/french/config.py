"""French filter settings."""

from luth_pipeline.core.config.base import StrictModel


class FrenchFilterConfig(StrictModel):
    language: str = "fr"
    min_probability: float = 0.9
    langdetect_seed: int = 0
    min_chars: int = 20
    max_chars: int = 100_000
    minhash_threshold: float = 0.8
    minhash_num_perm: int = 128
    shingle_size: int = 5
    min_french_share: float = 0.95
