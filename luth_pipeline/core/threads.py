"""torch's intra-op thread count for one block of work (merge, evaluation), restored after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """`count` intra-op threads for the block (None: leave torch's setting), the caller's count after:
    the setting is process-wide, and a Dagster process runs other stages (training) after this one.

    Why a stage sets it: tensors too small to split across threads (a tiny model's matmuls) cost
    more CPU with several threads than with one, and on a CPU shared with other jobs the idle
    OpenMP workers spin against them (benchmarks/RESULTS.md: merge, eval_speed)."""
    import torch

    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
