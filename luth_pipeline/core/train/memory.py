"""Will this run fit on the device? An estimate of training memory, and the switches it decides.

Per parameter (AdamW, `torch.optim.AdamW` keeps its two moments in the parameter's dtype):

| master weights | weights | grads | AdamW m, v | bf16 copies autocast caches | total |
|---|---:|---:|---:|---:|---:|
| fp32 (+ bf16 autocast) | 4 | 4 | 8 | 2 | 18 B |
| bf16 ("pure bf16")     | 2 | 2 | 4 | – | 8 B |

DDP adds one gradient-sized bucket copy. Activations are counted per token and per decoder layer
from what autograd keeps for a Qwen3/Llama-style block (RMSNorm inputs in fp32, the q/k/v, q/k-norm,
RoPE and attention outputs, the four SwiGLU tensors); the attention kernels in use (flash, flex,
SDPA's efficient kernels) keep O(L) state, not the L² scores. With gradient checkpointing only each
layer's input is kept, plus one layer recomputed at a time. The LM head's logits are the other big
term: bf16 logits + their fp32 upcast + the fp32 gradient per vocabulary entry and token, unless
Liger's fused linear-cross-entropy computes the loss in chunks and never holds them.

The estimate is meant to be on the safe side (Liger's fused RMSNorm/SwiGLU keep less); the
allocator's fragmentation and the CUDA context are left to the `headroom` fraction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

GIB = 2**30


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    gradients: int
    optimizer: int
    autocast_copies: int
    ddp_buckets: int
    activations: int
    logits: int

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_gib(self) -> dict[str, float]:
        return {k: round(v / GIB, 2) for k, v in {**asdict(self), "total": self.total}.items()}


def activation_bytes_per_token_layer(config, compute_bytes: int, residual_bytes: int) -> int:
    """Bytes autograd keeps per token for one decoder layer (no checkpointing)."""
    h = config.hidden_size
    heads, kv_heads = config.num_attention_heads, getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    inter = config.intermediate_size
    norms = 2 * (residual_bytes * h + compute_bytes * h)  # two RMSNorms: input (residual dtype) + output
    projections = compute_bytes * (heads + 2 * kv_heads) * head_dim  # q, k, v
    qk_norm = 4 * (heads + kv_heads) * head_dim  # Qwen3's q/k RMSNorm upcasts to fp32
    rope = compute_bytes * (heads + kv_heads) * head_dim
    attention_out = compute_bytes * heads * head_dim  # also the o_proj input
    swiglu = 4 * compute_bytes * inter  # gate, up, act(gate), act(gate)*up
    return norms + projections + qk_norm + rope + attention_out + swiglu


def estimate_training_memory(config, n_params: int, tokens_per_micro_batch: int, *, master_weights: str = "fp32",
                             autocast_bf16: bool = True, gradient_checkpointing: bool = False,
                             fused_linear_cross_entropy: bool = False, world_size: int = 1) -> MemoryEstimate:
    """Peak bytes on one device for a full fine-tune with AdamW (see the module docstring)."""
    param_bytes = 4 if master_weights == "fp32" else 2
    compute_bytes = 2 if autocast_bf16 or master_weights == "bf16" else 4
    per_layer = activation_bytes_per_token_layer(config, compute_bytes, param_bytes)
    layers = config.num_hidden_layers
    if gradient_checkpointing:
        activations = tokens_per_micro_batch * (layers * param_bytes * config.hidden_size + per_layer)
    else:
        activations = tokens_per_micro_batch * layers * per_layer
    if fused_linear_cross_entropy:
        logits = tokens_per_micro_batch * config.hidden_size * 4  # the hidden states' gradient, chunked loss
    else:
        logits = tokens_per_micro_batch * config.vocab_size * (compute_bytes + 4 + 4)
    return MemoryEstimate(
        weights=n_params * param_bytes,
        gradients=n_params * param_bytes,
        optimizer=n_params * 2 * param_bytes,
        autocast_copies=n_params * 2 if (autocast_bf16 and master_weights == "fp32") else 0,
        ddp_buckets=n_params * param_bytes if world_size > 1 else 0,
        activations=activations,
        logits=logits,
    )


@dataclass(frozen=True)
class MemoryPlan:
    gradient_checkpointing: bool
    reason: str
    estimate: MemoryEstimate
    budget_bytes: int | None


def plan_memory(config, n_params: int, tokens_per_micro_batch: int, *, requested_checkpointing: bool | None,
                budget_bytes: int | None, liger: bool, liger_installed: bool, headroom: float = 0.9,
                **kwargs) -> MemoryPlan:
    """Decide gradient checkpointing: as requested, or (None = auto) on when the estimate won't fit.

    Liger's fused linear-cross-entropy is used whenever Liger is (it is faster too); when it is
    not installed and that is what would make the run fit, the reason says so.
    """
    def est(ckpt: bool, fused: bool = liger) -> MemoryEstimate:
        return estimate_training_memory(config, n_params, tokens_per_micro_batch, gradient_checkpointing=ckpt,
                                        fused_linear_cross_entropy=fused, **kwargs)

    usable = int(budget_bytes * headroom) if budget_bytes else None
    plain = est(False)
    if requested_checkpointing is not None:
        chosen = est(requested_checkpointing)
        return MemoryPlan(requested_checkpointing, f"set in the profile ({'on' if requested_checkpointing else 'off'})",
                          chosen, budget_bytes)
    if usable is None:
        return MemoryPlan(False, "auto: no device memory budget (CPU), off", plain, None)
    if plain.total <= usable:
        return MemoryPlan(False, f"auto: estimate {plain.total / GIB:.1f} GiB fits {usable / GIB:.1f} GiB, off", plain, budget_bytes)
    checkpointed = est(True)
    reason = f"auto: estimate {plain.total / GIB:.1f} GiB > {usable / GIB:.1f} GiB usable, on ({checkpointed.total / GIB:.1f} GiB)"
    if checkpointed.total > usable:
        reason += "; still over budget: lower micro_batch_size"
    if not liger and not liger_installed:
        saved = (checkpointed.logits - est(True, fused=True).logits) / GIB
        reason += f"; liger-kernel's fused linear-cross-entropy would save {saved:.1f} GiB of logits (`pip install 'luth-pipeline[gpu]'`)"
    return MemoryPlan(True, reason, checkpointed, budget_bytes)
