"""Suggestions for a mistyped name (asset, partition, checkpoint, recipe): the closest valid ones."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """`; did you mean X or Y?` with the closest valid names, else `; valid: …` (all of them)."""
    valid = sorted(set(valid))
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else f"; valid: {', '.join(valid)}"


def check_names(kind: str, names: Iterable[str], valid: Iterable[str]) -> None:
    """Raise a LookupError naming the first unknown name and the closest valid ones."""
    valid = list(valid)
    for name in names:
        if name not in valid:
            raise LookupError(f"unknown {kind} {name!r}{did_you_mean(name, valid)}")
