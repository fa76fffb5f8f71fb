"""Throughput accounting: FLOPs per token, MFU, peak memory, and a Trainer callback that logs them.

MFU follows the PaLM appendix: a dense decoder spends 6·N FLOPs per trained token on its
matmuls (forward + backward) plus 12·L·H·Dh·T on attention scores, where T is the context a
token attends to. With document masking a token only attends within its document, so T is the
token-weighted mean document length sum(len²)/sum(len), not the bin length: counting the
masked-out blocks would inflate MFU. Activation recomputation (gradient checkpointing) is not
counted (it is overhead, not useful work), as in the PaLM definition.

Needs only torch (+ transformers for the callback base class).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

# Dense bf16 tensor-core peak per device (no sparsity), from the vendors' datasheets.
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,  # SXM; the PCIe card is 756e12
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "L4": 121e12,
    "RTX 4090": 165e12,
}


def non_embedding_params(model: torch.nn.Module) -> int:
    """Parameters that do matmul work per token (embedding lookups are free; a tied LM head is not)."""
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    total = sum(p.numel() for p in model.parameters())
    if embed is not None and (output is None or output.weight is not embed.weight):
        total -= embed.weight.numel()
    return total


def attention_context(document_lengths: Sequence[int]) -> float:
    """Token-weighted mean document length: the mean context a token attends to when packed."""
    total = sum(document_lengths)
    return sum(n * n for n in document_lengths) / total if total else 0.0


def flops_per_token(model_config, n_params: int, context: float) -> float:
    """Training FLOPs per token (forward + backward), PaLM-style."""
    layers = model_config.num_hidden_layers
    head_dim = getattr(model_config, "head_dim", None) or model_config.hidden_size // model_config.num_attention_heads
    return 6.0 * n_params + 12.0 * layers * model_config.num_attention_heads * head_dim * context


def device_peak_flops(device: torch.device | str | None = None) -> float | None:
    """Peak bf16 FLOP/s of the current accelerator, or None when unknown (CPU, unlisted GPU)."""
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(device)
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in name:
            return 756e12 if key == "H100" and "PCIe" in name else flops
    return None


def peak_memory_bytes() -> int | None:
    """Peak accelerator memory allocated since the last reset (None on CPU)."""
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return None


def reset_peak_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def process_rss_bytes() -> int:
    """Resident memory of this process (the CPU stand-in for accelerator peak memory)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class StepRecord:
    step: int
    epoch: float
    loss: float | None
    learning_rate: float | None
    grad_norm: float | None
    tokens_per_s: float | None
    elapsed_s: float


@dataclass
class ThroughputTracker:
    """Counts tokens as batches go by and turns them into tokens/s and MFU."""

    flops_per_token: float
    peak_flops: float | None = None
    tokens: int = 0
    trained_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    _window_tokens: int = 0
    _window_start: float = field(default_factory=time.perf_counter)

    def add_batch(self, input_ids: torch.Tensor, labels: torch.Tensor | None, pad_token_id: int | None = None) -> None:
        real = int(input_ids.numel()) if pad_token_id is None else int((input_ids != pad_token_id).sum())
        self.tokens += real
        self._window_tokens += real
        if labels is not None:
            self.trained_tokens += int((labels != -100).sum())

    def window_rate(self) -> float | None:
        """tokens/s since the last call (one logging interval)."""
        now = time.perf_counter()
        elapsed = now - self._window_start
        rate = self._window_tokens / elapsed if elapsed > 0 and self._window_tokens else None
        self._window_tokens, self._window_start = 0, now
        return rate

    def mfu(self, tokens_per_s: float | None, num_devices: int = 1) -> float | None:
        if not tokens_per_s or not self.peak_flops:
            return None
        return tokens_per_s * self.flops_per_token / (self.peak_flops * num_devices)
