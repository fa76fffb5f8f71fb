"""Settings of the `train` stage: which engine, and per base model the recipe's hyper-parameters.

Defaults are upstream's Qwen3-0.6B run (Luth `configs/train/sft_config.yaml` @54f51fe): full
fine-tune, lr 2e-5, 3 epochs, cosine with 10% warmup, sequence 16384 with sample packing,
micro-batch 6 x accumulation 4 (effective 24 on one GPU), loss on assistant turns only,
adamw_torch_8bit, weight decay 0.01, max_grad_norm 0.1, bf16, DeepSpeed ZeRO-1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from luth_pipeline.core.config.base import StrictModel


class ModelTrainSpec(StrictModel):
    """Hyper-parameters of one base model's fine-tune (keys follow Axolotl's names)."""

    learning_rate: float = Field(2e-5, gt=0)
    num_epochs: float = Field(3, gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    sequence_len: PositiveInt = 16384
    sample_packing: bool = True
    micro_batch_size: PositiveInt = 6
    gradient_accumulation_steps: PositiveInt = 4
    # Optimizer names as transformers' `optim` / Axolotl's `optimizer` spell them.
    optimizer: str = "adamw_torch_8bit"
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(0.1, gt=0)
    # bf16 mixed precision. Axolotl: `bf16: true` (DeepSpeed's ZeRO bf16 optimizer keeps fp32 master
    # weights); light engine: bf16 autocast over `train.master_weights` on CUDA.
    bf16: bool = True
    # `auto`: the light engine turns it on when its memory estimate exceeds the GPU (memory.py);
    # Axolotl gets `true` (upstream's value).
    gradient_checkpointing: bool | Literal["auto"] = "auto"
    # DeepSpeed config under configs/train/ (Axolotl engine); null = plain DDP / single process.
    deepspeed: Literal["zero1", "zero2", "zero3"] | None = "zero1"
    # Axolotl: also train on the end-of-turn token of assistant turns (upstream: 'turn').
    train_on_eos: Literal["turn", "all", "last", "none"] = "turn"
    eot_tokens: list[str] | None = None
    chunked_cross_entropy: bool = True
    # A hard cap on optimizer steps (demo/CI); null = the full `num_epochs`.
    max_steps: PositiveInt | None = None
    # Checkpoint every N optimizer steps (light engine; resumable); null = once per epoch.
    save_steps: PositiveInt | None = None

    @property
    def effective_batch_size(self) -> int:
        """Sequences per optimizer step on one GPU (times the number of GPUs in data parallel)."""
        return self.micro_batch_size * self.gradient_accumulation_steps


class AxolotlSettings(StrictModel):
    """How the Axolotl engine is rendered and launched (`.venv-train`)."""

    template: str = "configs/train/axolotl_sft.yaml"
    deepspeed_dir: str = "configs/train"
    # The environment with axolotl[deepspeed] (see `make .venv-train/.installed`).
    venv: str = ".venv-train"
    # `accelerate launch` topology: GPUs on this node, and nodes (multi-node needs machine_rank
    # and main_process_ip per node: see the README's multi-node section).
    num_processes: PositiveInt = 1
    num_machines: PositiveInt = 1
    # Attention: flash-attn when `.venv-train` has it (a CUDA build), else SDPA.
    flash_attention: Literal["auto", "on", "off"] = "auto"
    # Force CPU training (CI: bf16/flash off, no DeepSpeed).
    cpu: bool = False
    # Where Axolotl caches its tokenized/packed copy of `luth_sft` (relative to work_dir).
    prepared_dir: str = "axolotl_prepared"


class TrainConfig(StrictModel):
    # `axolotl`: upstream's tool, in `.venv-train`, launched through Dagster Pipes (gpu profile).
    # `light`: transformers' Trainer in the orchestrator environment on our packed batches
    # (make demo, quick single-GPU runs).
    engine: Literal["light", "axolotl"] = "light"
    # Per base model (keys of the profile's `base_models`).
    models: dict[str, ModelTrainSpec] = {}
    axolotl: AxolotlSettings = AxolotlSettings()
    # Light engine attention: `auto` = flash-attn varlen (FA4/FA3/FA2) when installed, else
    # flex_attention with a block-sparse document mask on CUDA; sdpa on CPU. Every choice keeps
    # packed documents apart (varlen cu_seqlens, a BlockMask, or a dense block-diagonal mask).
    attn_implementation: Literal["auto", "flash_attention_4", "flash_attention_3", "flash_attention_2",
                                 "flex_attention", "sdpa", "eager"] = "auto"
    # Light engine precision of the weights AdamW updates: fp32 master weights under bf16 autocast
    # (what Axolotl/DeepSpeed do), or `bf16` (pure bf16: half the memory, but lr 2e-5 updates round away).
    master_weights: Literal["fp32", "bf16"] = "fp32"
    # Light engine data-parallel processes on this node (DDP through torchrun); the
    # finetuned_checkpoint run asks the cluster for that many GPUs.
    num_processes: PositiveInt = 1
    # GPU memory the light engine plans against (GiB); null = the device's total memory.
    memory_budget_gib: float | None = Field(None, gt=0)
    # Liger kernels (fused RMSNorm/SwiGLU/RoPE/linear+cross-entropy) when `liger-kernel` is installed.
    use_liger: Literal["auto", "on", "off"] = "auto"
    logging_steps: PositiveInt = 1
    # Experiment trackers, used only when configured: "wandb" (WANDB_API_KEY / WANDB_MODE) and/or
    # "mlflow" (MLFLOW_TRACKING_URI).
    report_to: list[Literal["wandb", "mlflow"]] = []
    wandb_project: str = "luth"
    # Peak dense bf16 FLOP/s of one accelerator for MFU; null = looked up from the device name.
    peak_flops: float | None = None
    dataloader_num_workers: int = Field(0, ge=0)
    # Refuse to train unless the blocking checks of luth_sft and luth_sft_packed[<base>] passed on
    # their latest materializations in the Dagster instance (checks of another run count too).
    # Off only for data written outside Dagster (unit tests of the engines).
    require_passed_checks: bool = True

    @property
    def gpus_per_run(self) -> int:
        """GPUs one finetuned_checkpoint run needs on its node (the engine's process count)."""
        return self.axolotl.num_processes if self.engine == "axolotl" else self.num_processes

    def model(self, base_model: str) -> ModelTrainSpec:
        if base_model not in self.models:
            raise KeyError(
                f"train.models has no entry for base model {base_model!r} "
                f"(configured: {sorted(self.models)}): add `train: models: {base_model}: {{...}}` to the profile"
            )
        return self.models[base_model]
