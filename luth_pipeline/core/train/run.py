"""One fine-tuning run, end to end, for either engine (what the `finetuned_checkpoint` asset calls).

light:   luth_sft_packed → `light.train_light` → checkpoint folder (atomic)
axolotl: luth_sft (HF folder) → rendered + validated YAML → [Dagster Pipes runs `accelerate
         launch -m axolotl.cli.train`] → checkpoint folder (atomic)

The Pipes launch itself is the Dagster layer's job; `prepare_axolotl` builds everything it needs
and `finish_axolotl` turns Axolotl's output dir and the streamed metrics into the same
checkpoint folder the light engine writes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import yaml

from luth_pipeline.core.config import Profile, stage_fingerprint
from luth_pipeline.core.models import resolve_base_model
from luth_pipeline.core.storage import DatasetStore, atomic_directory
from luth_pipeline.core.train import axolotl as ax
from luth_pipeline.core.train.checkpoint import checkpoint_hash, copy_model_files, save_trained_model, write_summary
from luth_pipeline.core.train.config import ModelTrainSpec, TrainConfig
from luth_pipeline.core.train.model_card import ModelCard

PACKED_ASSET = "luth_sft_packed"
OUTPUT_ASSET = "finetuned_checkpoint"


@dataclass
class TrainOutcome:
    path: Path
    checkpoint_hash: str
    engine: str
    summary: dict
    history: list[dict]
    rendered_config: str  # YAML: Axolotl's config, or the light engine's settings
    lineage: dict = field(default_factory=dict)


def hyperparameters(spec: ModelTrainSpec, engine: str) -> dict:
    values = spec.model_dump(mode="json")
    values["effective_batch_size"] = spec.effective_batch_size
    values["loss"] = "assistant turns only (train_on_inputs: false)"
    values["engine"] = engine
    return values


def _write_checkpoint_folder(out: Path, fill: Callable[[Path], None], card: ModelCard, summary: dict) -> str:
    with atomic_directory(out) as tmp:
        fill(tmp)
        (tmp / "README.md").write_text(card.render(), encoding="utf-8")
        summary["checkpoint_sha256"] = checkpoint_hash(tmp)
        write_summary(tmp, summary)
    return summary["checkpoint_sha256"]


# ---------------------------------------------------------------- light engine


def light_settings(spec: ModelTrainSpec, train: TrainConfig, seed: int, run_name: str):
    from luth_pipeline.core.train.light import LightTrainSettings

    return LightTrainSettings(
        learning_rate=spec.learning_rate,
        num_epochs=spec.num_epochs,
        max_steps=spec.max_steps,
        micro_batch_size=spec.micro_batch_size,
        gradient_accumulation_steps=spec.gradient_accumulation_steps,
        lr_scheduler=spec.lr_scheduler,
        warmup_ratio=spec.warmup_ratio,
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        # The light engine's optimizer is torch's fused AdamW (8-bit states need torchao/CUDA).
        optimizer="adamw_torch_fused",
        bf16=None if spec.bf16 else False,
        master_weights=train.master_weights,
        gradient_checkpointing=None if spec.gradient_checkpointing == "auto" else spec.gradient_checkpointing,
        memory_budget_gib=train.memory_budget_gib,
        attn_implementation=train.attn_implementation,
        use_liger=train.use_liger,
        save_steps=spec.save_steps,
        logging_steps=train.logging_steps,
        seed=seed,
        report_to=list(train.report_to),
        run_name=run_name,
        dataloader_num_workers=train.dataloader_num_workers,
        peak_flops=train.peak_flops,
    )


def data_digest(table: pl.DataFrame) -> str:
    """A stable digest of the packed tokens: a resumed run must see the very same data."""
    digest = hashlib.sha256()
    for column in ("input_ids", "labels", "position_ids"):
        for values in table[column].to_list():
            digest.update(json.dumps(values).encode())
    return digest.hexdigest()[:16]


def _train_distributed(num_processes: int, model_path: str, table: pl.DataFrame, settings, scratch: Path, log, on_step):
    """`torchrun` with one process per GPU (see launch.py); the final model comes back as a folder."""
    from luth_pipeline.core.train.launch import run_distributed, write_job
    from luth_pipeline.core.train.light import LightTrainResult
    from luth_pipeline.core.train.metrics import StepRecord

    job = write_job(scratch / "ddp", model_path, table, settings, scratch)
    out = run_distributed(job, num_processes, log=log, on_step=on_step)
    return LightTrainResult(model=None, tokenizer=None, history=[StepRecord(**r) for r in out["history"]],
                            summary=out["summary"], settings=out["settings"], saved_model=scratch / "ddp" / "final_model")


def run_light(profile: Profile, store: DatasetStore, base_model: str, log: Callable[[str], None] = print,
              on_step=None, lineage: dict | None = None) -> TrainOutcome:
    from luth_pipeline.core.train.light import train_light
    from luth_pipeline.core.train.packed import PackedDataset

    spec = profile.train.model(base_model)
    model_path = resolve_base_model(base_model, profile.base_models[base_model], profile.work_path)
    table = store.read(PACKED_ASSET, base_model)
    dataset = PackedDataset(table.select("input_ids", "labels", "position_ids").iter_rows(named=True))
    run_name = f"luth-{base_model}"
    settings = light_settings(spec, profile.train, profile.seed, run_name)
    # Trainer checkpoints for resuming live in scratch, keyed by everything that shapes the run.
    scratch = profile.work_path / "train" / base_model / stage_fingerprint(spec, profile.train, data_digest(table), model_path)
    log(f"light engine: {len(dataset)} packed bins, {dataset.num_tokens} tokens "
        f"({dataset.num_trained_tokens} trained) from {store.uri(PACKED_ASSET, base_model)}; checkpoints in {scratch}")
    if profile.train.num_processes > 1:
        result = _train_distributed(profile.train.num_processes, model_path, table, settings, scratch, log, on_step)
    else:
        result = train_light(model_path, dataset, settings, scratch, resume=True, on_step=on_step)

    doc_ids = pl.Series([d for ids in table["doc_ids"].to_list() for d in ids or []]) if "doc_ids" in table.columns else pl.Series([])
    lineage = {
        "dataset": "luth_sft",
        "input": f"{PACKED_ASSET}[{base_model}]",
        "input_path": store.uri(PACKED_ASSET, base_model),
        "input_digest": data_digest(table),
        "bins": len(dataset),
        "documents": int(doc_ids.n_unique()) if len(doc_ids) else None,
        "tokens": dataset.num_tokens,
        "trained_tokens": dataset.num_trained_tokens,
        "base_model": model_path,
        **(lineage or {}),
    }
    summary = {**result.summary, "trained_tokens_per_epoch": dataset.num_trained_tokens}
    card = ModelCard(
        name=f"Luth {base_model} (fine-tuned)",
        base_model=profile.base_models[base_model].hf_id or base_model,
        engine="light",
        hyperparameters=hyperparameters(spec, "light (transformers Trainer)") | {"optimizer": settings.optimizer},
        results={k: summary.get(k) for k in ("global_steps", "epochs", "final_loss", "train_loss", "tokens_per_s", "mfu", "precision",
                                              "attn_implementation", "liger_kernel", "gradient_checkpointing", "world_size", "device")},
        lineage=lineage,
    )
    out = store.local_dir(OUTPUT_ASSET, base_model)
    if result.model is None:  # saved by rank 0 of the distributed run
        digest = _write_checkpoint_folder(out, lambda tmp: copy_model_files(result.saved_model, tmp, model_path), card, summary)
    else:
        digest = _write_checkpoint_folder(out, lambda tmp: save_trained_model(result.model, result.tokenizer, tmp, model_path), card, summary)
    shutil.rmtree(scratch, ignore_errors=True)  # the run finished: its resume checkpoints are spent
    history = [r.__dict__ for r in result.history]
    return TrainOutcome(out, digest, "light", summary, history, yaml.safe_dump(result.settings, sort_keys=False), lineage)


# ---------------------------------------------------------------- Axolotl engine


@dataclass
class AxolotlPlan:
    base_model: str
    model_path: str
    config: dict
    config_path: Path
    command: list[str]
    env: dict[str, str]
    output_dir: Path
    environment: dict  # what `.venv-train` offers (probe)
    lineage: dict


def luth_sft_files(profile: Profile, store: DatasetStore) -> list[Path]:
    """The Parquet shards of the luth_sft HF dataset folder (the chat rows Axolotl tokenizes)."""
    from luth_pipeline.core.sft.build import dataset_folder

    folder = dataset_folder(store, fetch=True)
    files = sorted(folder.glob("data/*.parquet"))
    if not files:
        raise FileNotFoundError(f"luth_sft has no Parquet shards under {folder}/data: materialize luth_sft first")
    return files


def prepare_axolotl(profile: Profile, store: DatasetStore, base_model: str, data_files: list[Path] | None = None,
                    log: Callable[[str], None] = print) -> AxolotlPlan:
    """Render the YAML, validate it with Axolotl's schema in `.venv-train`, build the launch command."""
    train = profile.train
    spec = train.model(base_model)
    env = ax.TrainEnv.from_settings(train.axolotl)
    env.check()
    probe = ax.probe_environment(env)
    model_path = resolve_base_model(base_model, profile.base_models[base_model], profile.work_path)
    files = data_files if data_files is not None else luth_sft_files(profile, store)
    run_dir = profile.work_path / "axolotl" / base_model
    cfg = ax.render_config(
        ax.load_template(train.axolotl.template),
        base_model=model_path,
        spec=spec,
        settings=train.axolotl,
        data_files=[str(f) for f in files],
        output_dir=run_dir / "output",
        prepared_dir=profile.work_path / train.axolotl.prepared_dir / base_model,
        flash_attn_available=bool(probe.get("flash_attn")),
        seed=profile.seed,
        run_name=f"luth-{base_model}",
        report_to=train.report_to,
        wandb_project=train.wandb_project,
    )
    config_path = ax.write_config(cfg, run_dir / "axolotl.yaml")
    # On a GPU host Axolotl checks the config against the real device when it starts; here we
    # check the schema, and GPU configs against the target (an H100) even on a CPU-only machine.
    capabilities = None if train.axolotl.cpu else ax.H100_CAPABILITIES
    ax.validate_config_file(env, config_path, capabilities)
    log(f"Axolotl config {config_path} validated by axolotl {probe.get('axolotl')} ({'cpu' if train.axolotl.cpu else 'gpu'} target)")
    mixed = "bf16" if cfg.get("bf16") and not train.axolotl.cpu else "no"
    lineage = {
        "dataset": "luth_sft",
        "input": "luth_sft (HF dataset folder; Axolotl tokenizes + packs it with the same chat template and labels)",
        "input_files": [str(f) for f in files],
        "base_model": model_path,
    }
    return AxolotlPlan(base_model, model_path, cfg, config_path, ax.launch_command(env, config_path, train.axolotl, mixed),
                       env.env(), Path(cfg["output_dir"]), probe, lineage)


def finish_axolotl(plan: AxolotlPlan, profile: Profile, store: DatasetStore, messages: list[dict],
                   lineage: dict | None = None) -> TrainOutcome:
    """Copy Axolotl's final model into the checkpoint folder with its card and run summary."""
    from luth_pipeline.core.train import metrics as m

    spec = profile.train.model(plan.base_model)
    logs, end = ax.summarize_messages(messages)
    if not logs:
        raise ax.AxolotlError(f"Axolotl finished without reporting a training step (see {plan.output_dir}/debug.log)")
    rates = [r["tokens_per_s"] for r in logs if r.get("tokens_per_s")]
    tokens_per_s = sum(rates) / len(rates) if rates else None
    fpt = _flops_per_token(plan.model_path, spec.sequence_len)
    peak_flops = profile.train.peak_flops or (m.PEAK_BF16_FLOPS["H100"] if plan.environment.get("cuda") else None)
    summary = {
        "engine": "axolotl",
        "axolotl": plan.environment.get("axolotl"),
        "device": "cuda" if plan.environment.get("cuda") else "cpu",
        "attn_implementation": plan.config.get("attn_implementation"),
        "deepspeed": plan.config.get("deepspeed"),
        "precision": "bf16" if plan.config.get("bf16") else "fp32",
        # DeepSpeed's ZeRO bf16 optimizer keeps fp32 master weights; without it Axolotl's bf16 loads bf16 weights.
        "master_weights": "fp32" if not plan.config.get("bf16") or plan.config.get("deepspeed") else "bf16",
        "gradient_checkpointing": plan.config.get("gradient_checkpointing"),
        "liger_kernel": any("liger" in str(p).lower() for p in plan.config.get("plugins") or []),
        "global_steps": end.get("global_steps", logs[-1]["step"]),
        "max_steps": end.get("max_steps"),
        "epochs": round(end.get("epochs", logs[-1]["epoch"]), 4),
        "final_loss": logs[-1]["loss"],
        "tokens_per_s": tokens_per_s,
        "flops_per_token": fpt,
        # Axolotl pads packed rows to sequence_len and masks documents; context ≈ bin length is an
        # upper bound on attention work, so this MFU slightly over-counts attention FLOPs.
        "mfu": tokens_per_s * fpt / peak_flops if tokens_per_s and fpt and peak_flops else None,
        "peak_memory_gib": max((r.get("peak_memory_gib") or 0) for r in logs),
        "train_runtime_s": end.get("train_runtime_s"),
        "tokens_total": end.get("tokens_total"),
        "tokens_trainable": end.get("tokens_trainable"),
        "effective_batch_size": spec.effective_batch_size * profile.train.axolotl.num_processes * profile.train.axolotl.num_machines,
    }
    lineage = {**plan.lineage, **(lineage or {})}
    card = ModelCard(
        name=f"Luth {plan.base_model} (fine-tuned)",
        base_model=profile.base_models[plan.base_model].hf_id or plan.base_model,
        engine="axolotl",
        hyperparameters=hyperparameters(spec, f"axolotl {plan.environment.get('axolotl')}") | {
            "optimizer": plan.config.get("optimizer"), "attn_implementation": plan.config.get("attn_implementation"),
            "deepspeed": Path(plan.config["deepspeed"]).name if plan.config.get("deepspeed") else None},
        results={k: summary.get(k) for k in ("global_steps", "epochs", "final_loss", "tokens_per_s", "mfu", "precision", "device")},
        lineage={k: v for k, v in lineage.items() if k != "input_files"},
    )
    out = store.local_dir(OUTPUT_ASSET, plan.base_model)

    def fill(tmp: Path) -> None:
        copy_model_files(plan.output_dir, tmp, plan.model_path)
        shutil.copy2(plan.config_path, tmp / "axolotl.yaml")

    digest = _write_checkpoint_folder(out, fill, card, summary)
    return TrainOutcome(out, digest, "axolotl", summary, logs, plan.config_path.read_text(encoding="utf-8"), lineage)


def _flops_per_token(model_path: str, context: int) -> float | None:
    from transformers import AutoConfig

    from luth_pipeline.core.train import metrics as m

    try:
        config = AutoConfig.from_pretrained(model_path)
    except OSError:
        return None
    # Parameters from the architecture (no weights loaded): the meta device builds it for free.
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return m.flops_per_token(config, m.non_embedding_params(model), context)
