"""The light engine: transformers' `Trainer` on our packed, document-masked batches.

For `make demo` and quick single-GPU runs in the orchestrator environment. The Trainer brings
what a hand loop would get wrong: fused AdamW, cosine schedule with warmup, gradient
accumulation with the loss normalised by the token count of the whole accumulated batch
(`num_items_in_batch`), gradient checkpointing, bf16, Liger kernels, and checkpoints that
resume exactly (optimizer, scheduler, RNG and data-order state).

What we add: the packed collator (documents never see each other, see `packed.py`), the
attention choice (`attention.py`: flash-attn varlen when installed, else flex_attention with a
block-sparse document mask on CUDA; SDPA on CPU), mixed precision as Axolotl/DeepSpeed do it
(fp32 master weights and AdamW state, bf16 autocast for the matmuls: at lr 2e-5 a bf16 weight
would round most updates away), gradient checkpointing switched on when the memory estimate
says the run won't fit (`memory.py`), and a callback that measures tokens/s, MFU and peak memory.

Needs torch + transformers only (the GPU benchmark imports it on a bare image).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from luth_pipeline.core.train import metrics as m
from luth_pipeline.core.train.attention import fixed_row_width, is_varlen, resolve_attention, use_flex_attention_in_autocast_dtype
from luth_pipeline.core.train.memory import GIB, plan_memory
from luth_pipeline.core.train.packed import PackedCollator, PackedDataset

logger = logging.getLogger(__name__)


@dataclass
class LightTrainSettings:
    learning_rate: float = 2e-5
    num_epochs: float = 3
    max_steps: int | None = None
    micro_batch_size: int = 6
    gradient_accumulation_steps: int = 4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 0.1
    # torch's fused AdamW kernel (one launch for all parameters; CPU and CUDA).
    optimizer: str = "adamw_torch_fused"
    # bf16 autocast of the forward/backward matmuls. None: on CUDA (with bf16 support), off on CPU;
    # True on CPU autocasts there too (slow: for tests of the mixed-precision path).
    bf16: bool | None = None
    # Precision of the weights the optimizer updates (and of its AdamW moments). fp32 is what
    # DeepSpeed's bf16 optimizer and torch AMP do; bf16 ("pure bf16") halves that memory but at
    # lr 2e-5 rounds most updates to nothing.
    master_weights: Literal["fp32", "bf16"] = "fp32"
    # None: on when the memory estimate exceeds the device's memory (see memory.py).
    gradient_checkpointing: bool | None = None
    # Device memory to plan against; None: the GPU's total memory (no budget on CPU).
    memory_budget_gib: float | None = None
    attn_implementation: str = "auto"
    use_liger: str = "auto"
    save_steps: int | None = None  # None: one checkpoint per epoch
    logging_steps: int = 1
    seed: int = 42
    report_to: list[str] = field(default_factory=list)
    run_name: str | None = None
    dataloader_num_workers: int = 0
    peak_flops: float | None = None


@dataclass
class LightTrainResult:
    model: torch.nn.Module | None  # None when a distributed run saved it to `saved_model`
    tokenizer: object
    history: list[m.StepRecord]
    summary: dict
    settings: dict
    saved_model: Path | None = None


def has_liger() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("liger_kernel") is not None


def resolve_liger(choice: str) -> bool:
    if choice == "on" and not has_liger():
        raise RuntimeError("use_liger: on needs CUDA and liger-kernel: `pip install 'luth-pipeline[gpu]'`")
    return choice == "on" or (choice == "auto" and has_liger())


def _check_trackers(report_to: list[str]) -> None:
    for tracker in report_to:
        if importlib.util.find_spec(tracker) is None:
            raise RuntimeError(f"train.report_to lists {tracker!r} but the package is not installed: `pip install {tracker}`")


class _PackedTrainer(Trainer):
    """Counts real (non-padding) tokens per micro-batch for the throughput callback."""

    tokens_seen: int = 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.tokens_seen += int(inputs.pop("num_real_tokens", inputs["input_ids"].numel()))
        return super().training_step(model, inputs, num_items_in_batch)


@dataclass
class _CountingCollator(PackedCollator):
    def __call__(self, rows):
        batch = super().__call__(rows)
        batch["num_real_tokens"] = torch.tensor(sum(len(r["input_ids"]) for r in rows))
        return batch


class ThroughputCallback(TrainerCallback):
    """Adds tokens/s, MFU and peak memory to every log line and keeps the loss curve."""

    def __init__(self, trainer_ref: Callable[[], _PackedTrainer], flops_per_token: float, peak_flops: float | None,
                 on_step: Callable[[m.StepRecord, dict], None] | None = None):
        self.trainer_ref = trainer_ref
        self.flops_per_token = flops_per_token
        self.peak_flops = peak_flops
        self.on_step = on_step
        self.history: list[m.StepRecord] = []
        self.train_time = 0.0
        self._tokens_at_log = 0
        self._t_log = None
        self._t_start = None

    def on_train_begin(self, args, state, control, **kwargs):
        m.reset_peak_memory()
        self._t_start = self._t_log = time.perf_counter()
        self._tokens_at_log = self.trainer_ref().tokens_seen

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None or "loss" not in logs:
            return
        now = time.perf_counter()
        tokens = self.trainer_ref().tokens_seen
        # Each rank counts its own tokens; ranks get equal shares of bins, so the run's rate is
        # this rank's times the number of ranks (the end-of-run summary sums them exactly).
        world = max(args.world_size, 1)
        rate = world * (tokens - self._tokens_at_log) / (now - self._t_log) if now > self._t_log else None
        self._tokens_at_log, self._t_log = tokens, now
        logs["tokens_per_s"] = round(rate, 1) if rate else None
        mfu = rate * self.flops_per_token / (self.peak_flops * world) if rate and self.peak_flops else None
        if mfu is not None:
            logs["mfu"] = round(mfu, 4)
        peak = m.peak_memory_bytes()
        logs["peak_memory_gib"] = round((peak if peak is not None else m.process_rss_bytes()) / 2**30, 3)
        record = m.StepRecord(
            step=state.global_step,
            epoch=float(state.epoch or 0),
            loss=logs.get("loss"),
            learning_rate=logs.get("learning_rate"),
            grad_norm=logs.get("grad_norm"),
            tokens_per_s=rate,
            elapsed_s=now - self._t_start,
        )
        self.history.append(record)
        if self.on_step is not None:
            self.on_step(record, dict(logs))

    def on_train_end(self, args, state, control, **kwargs):
        self.train_time = time.perf_counter() - self._t_start


def _sum_over_ranks(value: int) -> int:
    """The total over data-parallel ranks (every rank calls this after training)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    total = torch.tensor([value], dtype=torch.long, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(total)
    return int(total.item())


def _resolve_autocast(requested: bool | None) -> bool:
    cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if requested is None:
        return cuda_bf16  # CPU: fp32 (bf16 matmuls there are slow emulation)
    if requested and torch.cuda.is_available() and not cuda_bf16:
        raise RuntimeError(f"train bf16 is on but {torch.cuda.get_device_name()} has no bf16 support: set `bf16: false`")
    return requested


def _memory_budget(settings: LightTrainSettings) -> int | None:
    if settings.memory_budget_gib is not None:
        return int(settings.memory_budget_gib * GIB)
    return int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory) if torch.cuda.is_available() else None


def precision_label(master_weights: str, autocast: bool) -> str:
    if master_weights == "bf16":
        return "bf16 (pure: bf16 weights and optimizer state)"
    return "bf16 autocast, fp32 master weights + optimizer state" if autocast else "fp32"


def load_model(model_path: str, master_dtype: torch.dtype, attn_implementation: str):
    """The weights the optimizer updates, in `master_dtype` (autocast makes the bf16 copies)."""
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=master_dtype, attn_implementation=attn_implementation)
    # The KV cache is useless in training and breaks gradient checkpointing.
    model.config.use_cache = False
    return model


def _checkpointing_args(enabled: bool) -> dict:
    # transformers >= 5.2x renamed gradient_checkpointing to activation_checkpointing.
    name = "activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__ else "gradient_checkpointing"
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False} if enabled else None}


def training_arguments(settings: LightTrainSettings, output_dir: Path, bf16: bool, liger: bool,
                       gradient_checkpointing: bool) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=settings.micro_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.num_epochs,
        max_steps=settings.max_steps or -1,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm,
        optim=settings.optimizer,
        bf16=bf16,
        **_checkpointing_args(gradient_checkpointing),
        use_liger_kernel=liger,
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        save_strategy="steps" if settings.save_steps else "epoch",
        save_steps=settings.save_steps or 500,
        seed=settings.seed,
        data_seed=settings.seed,
        report_to=settings.report_to or "none",
        run_name=settings.run_name,
        dataloader_num_workers=settings.dataloader_num_workers,
        # Our collator's columns are the model's inputs already.
        remove_unused_columns=False,
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )


def document_masking(config) -> str:
    """How far packed documents are kept apart for this architecture. Attention layers see only
    their own document (position-id restarts); LFM2's short-convolution layers are not masked by
    transformers, so each document's first `conv_L_cache - 1` tokens also see the previous one's last."""
    conv_layers = [t for t in getattr(config, "layer_types", None) or [] if t == "conv"]
    if not conv_layers:
        return "exact"
    reach = max(int(getattr(config, "conv_L_cache", 3)) - 1, 1)
    return (f"attention layers only: {len(conv_layers)} short-convolution layer(s) let a document's first "
            f"{reach} token(s) see the end of the previous packed document")


def train_light(
    model_path: str | torch.nn.Module,
    dataset: PackedDataset,
    settings: LightTrainSettings,
    output_dir: Path,
    resume: bool = True,
    on_step: Callable[[m.StepRecord, dict], None] | None = None,
    extra_callbacks: list[TrainerCallback] | None = None,
) -> LightTrainResult:
    """Fine-tune `model_path` on packed bins; `output_dir` holds the resumable Trainer checkpoints.

    With `resume`, a previous interrupted run's last checkpoint in `output_dir` is continued
    (same loss curve as an uninterrupted run). The caller saves the final model.
    """
    _check_trackers(settings.report_to)
    autocast = _resolve_autocast(settings.bf16)
    master_dtype = torch.float32 if settings.master_weights == "fp32" else torch.bfloat16
    attn = resolve_attention(settings.attn_implementation)
    if attn == "flex_attention":
        use_flex_attention_in_autocast_dtype()
    liger = resolve_liger(settings.use_liger)
    if isinstance(model_path, torch.nn.Module):  # an in-memory model (the benchmark's random init)
        model, tokenizer = model_path, None
        model.set_attn_implementation(attn)
        model.config.use_cache = False
        model.to(master_dtype)
    else:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = load_model(model_path, master_dtype, attn)
    masking = document_masking(model.config)
    if masking != "exact":
        logger.warning("packed training of %s: %s", getattr(model.config, "model_type", "model"), masking)
    context = m.attention_context(dataset.document_lengths())
    fpt = m.flops_per_token(model.config, m.non_embedding_params(model), context)
    peak_flops = settings.peak_flops or m.device_peak_flops()

    longest_bin = max(len(r["input_ids"]) for r in dataset.rows)
    row_width = fixed_row_width(attn, longest_bin)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    memory = plan_memory(
        model.config, sum(p.numel() for p in model.parameters()), settings.micro_batch_size * (row_width or longest_bin),
        requested_checkpointing=settings.gradient_checkpointing, budget_bytes=_memory_budget(settings),
        liger=liger, liger_installed=importlib.util.find_spec("liger_kernel") is not None,
        master_weights=settings.master_weights, autocast_bf16=autocast, world_size=world_size,
    )
    logger.info("attention %s, master weights %s%s, liger %s; memory estimate %s GiB; gradient checkpointing %s",
                attn, settings.master_weights, " + bf16 autocast" if autocast else "", liger,
                memory.estimate.as_gib()["total"], memory.reason)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    args = training_arguments(settings, output_dir, autocast, liger, memory.gradient_checkpointing)
    collator = _CountingCollator(
        pad_token_id=tokenizer.pad_token_id if tokenizer is not None and tokenizer.pad_token_id is not None else 0,
        flatten=is_varlen(attn),
        pad_to_length=row_width,
    )
    trainer: _PackedTrainer
    throughput = ThroughputCallback(lambda: trainer, fpt, peak_flops, on_step)
    trainer = _PackedTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[throughput, *(extra_callbacks or [])],
    )
    trainer.remove_callback(PrinterCallback)  # our callback logs each step (with throughput) instead
    last = get_last_checkpoint(str(output_dir)) if resume else None
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=last)
    wall = time.perf_counter() - started

    tokens_seen = _sum_over_ranks(trainer.tokens_seen)
    tokens_per_s = tokens_seen / throughput.train_time if throughput.train_time else None
    peak = m.peak_memory_bytes()
    losses = [r.loss for r in throughput.history if r.loss is not None]
    summary = {
        "engine": "light",
        "attn_implementation": attn,
        "document_masking": masking,
        "liger_kernel": liger,
        "precision": precision_label(settings.master_weights, autocast),
        "master_weights": settings.master_weights,
        "autocast": "bf16" if autocast else None,
        "gradient_checkpointing": memory.gradient_checkpointing,
        "gradient_checkpointing_reason": memory.reason,
        "memory_estimate_gib": memory.estimate.as_gib(),
        "memory_budget_gib": round(memory.budget_bytes / GIB, 1) if memory.budget_bytes else None,
        "world_size": world_size,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "global_steps": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "epochs": round(float(trainer.state.epoch or 0), 4),
        "resumed_from": last,
        "train_loss": float(output.training_loss) if output.training_loss is not None and not math.isnan(output.training_loss) else None,
        "final_loss": losses[-1] if losses else None,
        "tokens_seen_this_run": tokens_seen,
        "tokens_per_s": tokens_per_s,
        "flops_per_token": fpt,
        "attention_context": context,
        "peak_flops": peak_flops,
        "mfu": tokens_per_s * fpt / (peak_flops * world_size) if tokens_per_s and peak_flops else None,
        "peak_memory_bytes": peak if peak is not None else m.process_rss_bytes(),
        "peak_memory_kind": "cuda max_memory_allocated" if peak is not None else "process max RSS (CPU)",
        "train_runtime_s": round(wall, 2),
        "effective_batch_size": settings.micro_batch_size * settings.gradient_accumulation_steps * max(args.world_size, 1),
    }
    return LightTrainResult(model=trainer.model, tokenizer=tokenizer, history=throughput.history, summary=summary, settings=asdict(settings))
