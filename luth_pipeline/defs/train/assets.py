"""finetuned_checkpoint: a full fine-tune of each base model on Luth-SFT (light engine or Axolotl)."""

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.train import run as train_run
from luth_pipeline.core.train.model_card import training_datasets
from luth_pipeline.core.train.plots import loss_curve_png
from luth_pipeline.defs.check_gate import unchecked_data_problems
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.metadata import card_body, latest_materialization
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.publish import publish_plot, register_checkpoints
from luth_pipeline.defs.scale_out import step_tags
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage


# The blocking checks training requires on what it reads (a test holds this equal to the blocking
# checks the SFT stage declares).
REQUIRED_CHECKS = {
    "luth_sft": ["luth_sft_decontaminated", "luth_sft_schema"],
    "luth_sft_packed": ["luth_sft_packed_schema", "luth_sft_packed_trainable"],
}


def _code_version(profile: Profile) -> str:
    return code_version("train", profile.train, profile.base_models)


def _upstream_lineage(context: dg.AssetExecutionContext, base_model: str) -> dict:
    """Which materialization of luth_sft_packed / luth_sft this run read (run ids for the UI)."""
    lineage = {}
    for asset, partition in (("luth_sft_packed", base_model), ("luth_sft", None)):
        record = latest_materialization(context.instance, asset, partition)
        if record is not None:
            lineage[f"{asset}_run_id"] = record.run_id
    return lineage


def _step_logger(context: dg.AssetExecutionContext):
    def log(record, logs: dict) -> None:
        rate = f"{record.tokens_per_s:,.0f} tok/s" if record.tokens_per_s else "- tok/s"
        context.log.info(
            f"step {record.step} epoch {record.epoch:.2f} loss {record.loss:.4f} "
            f"lr {record.learning_rate or 0:.3g} {rate} mem {logs.get('peak_memory_gib', 0):.2f} GiB"
        )

    return log


def _run_axolotl(context: dg.AssetExecutionContext, profile, store, base_model: str, lineage: dict):
    plan = train_run.prepare_axolotl(profile, store, base_model, log=context.log.info)
    context.log.info("launching: " + " ".join(plan.command))
    # Pipes: the child's PipesPlugin (rank 0) streams log lines and per-step metrics back.
    client = dg.PipesSubprocessClient(cwd=str(REPO_ROOT))
    invocation = client.run(command=plan.command, context=context, env=plan.env)
    return train_run.finish_axolotl(plan, profile, store, invocation.get_custom_messages(), lineage)


def _history_markdown(history: list[dict], limit: int = 40) -> str:
    rows = ["| step | epoch | loss | lr | tokens/s |", "|---|---|---|---|---|"]
    stride = max(1, len(history) // limit)
    for r in history[::stride]:
        tps = f"{r['tokens_per_s']:,.0f}" if r.get("tokens_per_s") else "-"
        rows.append(f"| {r['step']} | {r['epoch']:.2f} | {r['loss']:.4f} | {r.get('learning_rate') or 0:.3g} | {tps} |")
    return "\n".join(rows)


def finetuned_checkpoint(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    base_model = context.partition_key
    if profile.train.require_passed_checks:
        problems = unchecked_data_problems(context.instance, {"luth_sft": None, "luth_sft_packed": base_model},
                                           REQUIRED_CHECKS)
        if problems:
            raise dg.Failure(
                description="refusing to train on unchecked or failing data:\n- " + "\n- ".join(problems)
                + "\nRe-materialize luth_sft and luth_sft_packed with their checks (they run by default) and fix what failed.",
                metadata={"problems": dg.MetadataValue.json(problems)},
            )
    # hub ids of the training data, for the model card's `datasets:`
    lineage = {**_upstream_lineage(context, base_model), "datasets": training_datasets(profile)}
    if profile.train.engine == "axolotl":
        outcome = _run_axolotl(context, profile, store, base_model, lineage)
    else:
        outcome = train_run.run_light(profile, store, base_model, log=context.log.info, on_step=_step_logger(context), lineage=lineage)

    # The evaluation stage benchmarks both the base and the fine-tuned model.
    register_checkpoints(context)  # `<base>.base` and `<base>.finetuned`

    history = [r for r in outcome.history if r.get("loss") is not None]
    png = loss_curve_png([r["step"] for r in history], [r["loss"] for r in history],
                         [r.get("learning_rate") for r in history], [r.get("tokens_per_s") for r in history],
                         f"finetuned_checkpoint [{base_model}] ({outcome.engine})")
    uri = store.publish_dir("finetuned_checkpoint", base_model)  # a no-op under a local data root
    summary = outcome.summary
    metadata = {
        "path": dg.MetadataValue.path(uri),
        "engine": outcome.engine,
        "checkpoint_sha256": outcome.checkpoint_hash,
        "global_steps": summary.get("global_steps"),
        "epochs": summary.get("epochs"),
        "final_loss": summary.get("final_loss"),
        "tokens_per_s": round(summary["tokens_per_s"], 1) if summary.get("tokens_per_s") else None,
        "mfu": dg.MetadataValue.float(summary["mfu"]) if summary.get("mfu") is not None else "n/a (no known peak FLOP/s for this device)",
        "peak_memory_gib": round(summary["peak_memory_bytes"] / 2**30, 3) if summary.get("peak_memory_bytes") else summary.get("peak_memory_gib"),
        "precision": summary.get("precision"),
        "master_weights": summary.get("master_weights"),
        "attn_implementation": summary.get("attn_implementation"),
        "liger_kernel": summary.get("liger_kernel"),
        "gradient_checkpointing": summary.get("gradient_checkpointing"),
        "gradient_checkpointing_reason": summary.get("gradient_checkpointing_reason"),
        "memory_estimate_gib": dg.MetadataValue.json(summary["memory_estimate_gib"]) if summary.get("memory_estimate_gib") else None,
        "world_size": summary.get("world_size"),
        "effective_batch_size": summary.get("effective_batch_size"),
        "train_runtime_s": summary.get("train_runtime_s"),
        # published after publish_dir, which replaces the folder in an object store
        **publish_plot(store, "finetuned_checkpoint", png, "loss curve", "loss_curve", partition=base_model),
        "loss_history": dg.MetadataValue.md(_history_markdown(history)),
        "rendered_config": dg.MetadataValue.md(f"```yaml\n{outcome.rendered_config}\n```"),
        "lineage": dg.MetadataValue.json({k: v for k, v in outcome.lineage.items() if k != "input_files"}),
        "model_card": card_body((outcome.path / "README.md").read_text(encoding="utf-8")),
    }
    return dg.MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """finetuned_checkpoint of `profile`, one fine-tune per base model."""
    return dg.Definitions(assets=[
        dg.asset(
            key="finetuned_checkpoint",
            group_name="train",
            kinds={"pytorch", "transformers", "axolotl" if profile.train.engine == "axolotl" else "python"},
            deps=["luth_sft_packed", "luth_sft"],
            partitions_def=partitions.base_model,
            pool="gpu",
            op_tags=step_tags(profile, "finetuned_checkpoint"),  # a GPU pod sized from the profile (defs/scale_out.py)
            code_version=_code_version(profile),
            description=(
                "Full fine-tune of the base model on Luth-SFT, loss on assistant turns only, packed sequences "
                "with document-masked attention, cosine schedule with warmup. Engine per profile: Axolotl + "
                "DeepSpeed in .venv-train launched through Dagster Pipes (gpu), or the light engine "
                "(transformers Trainer on luth_sft_packed, local). Output: a Hugging Face checkpoint folder "
                "(weights, tokenizer + chat template, generation config, model card)."
            ),
        )(one_writer_per_partition(finetuned_checkpoint)),
    ])
