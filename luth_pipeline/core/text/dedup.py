"""Exact deduplication on normalized text and MinHash near-deduplication (datasketch LSH)."""

from __future__ import annotations

import hashlib

from typing import TYPE_CHECKING

import numpy as np

from luth_pipeline.core.text.normalize import shingles

if TYPE_CHECKING:  # datasketch (and SciPy under it) loads when a stage deduplicates, not with the definitions
    from datasketch import MinHash


class ExactDeduplicator:
    """First occurrence of each normalized text wins; later ones point at it."""

    def __init__(self):
        self._first: dict[str, str] = {}

    def duplicate_of(self, row_id: str, normalized: str) -> str | None:
        key = hashlib.blake2b(normalized.encode(), digest_size=16).hexdigest()
        first = self._first.setdefault(key, row_id)
        return None if first == row_id else first


class NearDeduplicator:
    """Keeps a row unless an already kept row's estimated Jaccard similarity reaches `threshold`.

    LSH only proposes candidates (it has false positives and negatives around the threshold);
    each candidate is confirmed with the MinHash Jaccard estimate before a row is dropped.
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, shingle_size: int = 5, seed: int = 1):
        from datasketch import MinHash, MinHashLSH

        self.threshold, self.num_perm, self.shingle_size, self.seed = threshold, num_perm, shingle_size, seed
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        # Generated once and shared: by default every MinHash draws its own permutation arrays.
        self._permutations = MinHash(num_perm=num_perm, seed=seed).permutations
        self._kept: dict[str, np.ndarray] = {}  # hash values of kept rows, for confirming candidates

    def signature(self, normalized: str) -> MinHash:
        from datasketch import MinHash

        minhash = MinHash(num_perm=self.num_perm, seed=self.seed, permutations=self._permutations)
        minhash.update_batch([s.encode() for s in shingles(normalized, self.shingle_size)])
        return minhash

    def duplicate_of(self, row_id: str, normalized: str) -> tuple[str | None, float]:
        """(id of the kept row this one nearly duplicates, or None; their estimated Jaccard)."""
        minhash = self.signature(normalized)
        best, best_score = None, 0.0
        for candidate in self._lsh.query(minhash):
            score = float(np.count_nonzero(minhash.hashvalues == self._kept[candidate])) / self.num_perm
            if score >= self.threshold and score > best_score:
                best, best_score = candidate, score
        if best is None:
            self._lsh.insert(row_id, minhash)
            self._kept[row_id] = minhash.hashvalues
        return best, best_score
