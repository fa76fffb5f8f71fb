"""Which attention kernel trains packed, document-masked bins, and how batches are shaped for it.

Every choice keeps packed documents apart; they differ in how much work the mask costs:

- `flash_attention_{4,3,2}`: flash-attn's varlen kernel reads `cu_seqlens` from the position
  restarts and never touches a masked block. The micro-batch is flattened into one row.
- `flex_attention`: torch's compiled kernel with a block-sparse `BlockMask` (128×128 tiles):
  tiles across documents are skipped, so the cost follows the documents, not the row length.
  transformers builds that mask once per forward (`Qwen3Model.forward` → `create_causal_mask`)
  and hands the same object to every layer, so there is nothing to rebuild per layer. Rows are
  padded to one fixed width so the compiled kernel and mask see a single shape. Under bf16
  autocast over fp32 master weights, Qwen3's q/k RMSNorms return fp32 (fp32 weight × bf16
  activations) while v stays bf16: SDPA's autocast rule casts all three back, transformers'
  flex path does not, so `use_flex_attention_in_autocast_dtype` makes it (see there).
- `sdpa`: a dense (B, 1, L, L) block-diagonal mask: with an explicit mask SDPA falls back to the
  memory-efficient/math kernels and computes all L² scores. Measured on an H200 at 16k it is
  0.42× the plain loop (benchmarks/RESULTS.md), so `auto` never picks it on CUDA; it stays
  selectable for CPU runs and tests (flex has no CPU backward in torch 2.13).
- `eager`: the reference implementation (tests).

Needs torch + transformers only.
"""

from __future__ import annotations

import importlib.util

import torch

FLASH_BACKENDS = ("flash_attention_4", "flash_attention_3", "flash_attention_2")
BACKENDS = ("auto", *FLASH_BACKENDS, "flex_attention", "sdpa", "eager")
# flex_attention's tile size: padding rows to a multiple keeps every tile full.
FLEX_BLOCK = 128


def _flash_available(backend: str) -> bool:
    """transformers' own probe (same names it accepts); an older transformers may lack FA3/FA4's."""
    from transformers.utils import import_utils

    version = backend.rsplit("_", 1)[-1]
    probe = getattr(import_utils, f"is_flash_attn_{version}_available", None)
    return bool(torch.cuda.is_available() and probe is not None and probe())


def available_flash_attention() -> str | None:
    """The newest installed flash-attn generation that runs here (FA3 is Hopper-only)."""
    for backend in FLASH_BACKENDS:
        if backend == "flash_attention_3" and torch.cuda.get_device_capability()[0] != 9:
            continue
        if _flash_available(backend):
            return backend
    return None


def resolve_attention(choice: str) -> str:
    """`auto`: flash-attn varlen when installed, else flex_attention on CUDA; sdpa on CPU."""
    if choice not in BACKENDS:
        raise ValueError(f"attn_implementation {choice!r} is not one of {list(BACKENDS)}")
    if choice == "auto":
        if not torch.cuda.is_available():
            return "sdpa"
        return available_flash_attention() or "flex_attention"
    if choice in FLASH_BACKENDS and not _flash_available(choice):
        package = {"flash_attention_2": "flash-attn", "flash_attention_3": "flash-attn-3 (hopper/)",
                   "flash_attention_4": "flash-attn-4 (flash_attn/cute)"}[choice]
        raise RuntimeError(f"attn_implementation {choice} needs CUDA and {package}: build it on the GPU host "
                           f"(`pip install flash-attn --no-build-isolation`) or use `auto`/`flex_attention`")
    if choice == "flex_attention" and importlib.util.find_spec("torch.nn.attention.flex_attention") is None:
        raise RuntimeError(f"attn_implementation flex_attention needs torch >= 2.5 (have {torch.__version__})")
    return choice


def is_varlen(backend: str) -> bool:
    """Backends whose packed path reads one flattened row with `cu_seqlens` (no padding at all)."""
    return backend in FLASH_BACKENDS


def fixed_row_width(backend: str, longest_bin: int) -> int | None:
    """One padded width for every micro-batch (flex: one compiled shape), else None (pad to the batch)."""
    if backend != "flex_attention":
        return None
    return -(-longest_bin // FLEX_BLOCK) * FLEX_BLOCK


def _flex_attention_in_autocast_dtype(module, query, key, value, attention_mask, **kwargs):
    """transformers' `flex_attention_forward` with q, k, v cast to the autocast dtype when autocast is on.

    Without this, fp32 q/k meet a bf16 v: depending on the torch version flex rejects the mix or
    runs its fp32 kernels (another project measured the fp32 flex backward at head_dim 128 ~12×
    slower per call than bf16, ~4× end to end on an H100). Liger's RMSNorm happens to return the
    input dtype, which hid this when Liger is on. A no-op outside autocast."""
    from transformers.integrations import flex_attention as hf_flex

    device = query.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        query, key, value = query.to(dtype), key.to(dtype), value.to(dtype)
    return hf_flex.flex_attention_forward(module, query, key, value, attention_mask, **kwargs)


def use_flex_attention_in_autocast_dtype() -> None:
    """Route the `flex_attention` implementation through the autocast-dtype cast (transformers'
    documented `AttentionInterface.register`; process-wide, idempotent, mask creation unchanged)."""
    from transformers import AttentionInterface

    AttentionInterface.register("flex_attention", _flex_attention_in_autocast_dtype)
