"""benchmark_scores (one partition per checkpoint) and eval_report (all checkpoints vs published)."""

import json
import os
import tempfile
import time
from pathlib import Path

import dagster as dg
import polars as pl

from luth_pipeline.core.checkpoints import CheckpointKey, checkpoint_location
from luth_pipeline.core.config import Profile
from luth_pipeline.core.eval.datasets import task_catalogue
from luth_pipeline.core.eval.report import bar_chart_png, build_comparison, load_reference_scores, render_markdown
from luth_pipeline.core.eval.runner import EvalResult, evaluate_checkpoint
from luth_pipeline.core.train.model_card import model_index, scores_table, with_eval_results
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.metadata import card_body
from luth_pipeline.defs.partitions import Partitions, checkpoint_partitions
from luth_pipeline.defs.publish import publish_plot, publish_table
from luth_pipeline.defs.scale_out import step_tags
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage

def _run_through_pipes(context, profile, profile_name: str, model_path: str, checkpoint: str) -> EvalResult:
    """LightEval in the environment of `eval.python` (e.g. .venv-serve with vLLM), via Dagster Pipes."""
    config = profile.eval
    python = profile.resolve_path(config.python)
    if not Path(python).exists():
        raise dg.Failure(
            f"eval.python = {config.python!r} does not exist ({python}): build it with `make .venv-serve` "
            "on a GPU host, or set eval.python: null to evaluate in this process"
        )
    with tempfile.TemporaryDirectory(prefix="luth-eval-pipes-") as out_dir:
        started = time.monotonic()
        completed = dg.PipesSubprocessClient(cwd=str(profile.resolve_path("."))).run(
            command=[str(python), "-m", "luth_pipeline.defs.eval.pipes_worker"],
            context=context,
            extras={"profile": profile_name, "model_path": model_path, "checkpoint": checkpoint, "out_dir": out_dir},
        )
        messages = completed.get_custom_messages()
        per_language = messages[-1].get("per_language_seconds", {}) if messages else {}
        out = Path(out_dir)
        return EvalResult(
            scores=pl.read_parquet(out / "scores.parquet"),
            details=pl.read_parquet(out / "details.parquet"),
            settings=json.loads((out / "settings.json").read_text()),
            seconds=time.monotonic() - started,
            per_language_seconds=per_language,
        )


def _scores_markdown(scores: pl.DataFrame) -> str:
    headline = scores.filter(pl.col("headline")).sort("language", "task")
    lines = ["| language | task | metric | score (%) | ± stderr | runs | samples |", "|---|---|---|---|---|---|---|"]
    for row in headline.iter_rows(named=True):
        stderr = "–" if row["stderr"] is None else f"{100 * row['stderr']:.2f}"
        lines.append(
            f"| {row['language']} | {row['task']} | {row['metric']} | {100 * row['score']:.2f} | {stderr} | "
            f"{row['num_runs']} | {row['num_samples']} |"
        )
    return "\n".join(lines)


def benchmark_scores(
    context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage
) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    checkpoint = context.partition_key
    try:
        model_path = checkpoint_location(checkpoint, profile, store)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise dg.Failure(str(exc)) from exc
    config = profile.eval
    if config.python is None:
        result = evaluate_checkpoint(model_path, config, checkpoint, progress=context.log.info)
    else:
        result = _run_through_pipes(context, profile, luth_config.profile, model_path, checkpoint)
    headline = result.scores.filter(pl.col("headline"))
    mean = {
        lang: round(100 * headline.filter(pl.col("language") == lang)["score"].mean(), 2)
        for lang in sorted(headline["language"].unique().to_list())
    }
    context.log.info(f"{checkpoint}: mean headline score {mean} in {result.seconds:.1f}s")
    card = _card_with_results(profile, checkpoint, model_path, result, store.is_local)
    return dg.MaterializeResult(
        metadata={
            **publish_table(store, "benchmark_scores", result.scores, partition=checkpoint, tables={"details": result.details}),
            "num_details": dg.MetadataValue.int(result.details.height),
            "model_path": dg.MetadataValue.path(model_path),
            "scores": dg.MetadataValue.md(_scores_markdown(result.scores)),
            **{f"mean_{lang}": dg.MetadataValue.float(value) for lang, value in mean.items()},
            "eval_seconds": dg.MetadataValue.float(round(result.seconds, 2)),
            "seconds_per_language": dg.MetadataValue.json({k: round(v, 2) for k, v in result.per_language_seconds.items()}),
            "settings": dg.MetadataValue.json(result.settings),
            **({"model_card": card_body(card)} if card else {}),
        }
    )


def _card_with_results(profile: Profile, checkpoint: str, model_path: str, result: EvalResult, write: bool) -> str | None:
    """The checkpoint's model card with these scores as its `model-index` (the Hub's eval-results
    format) and evaluation table; written back into a local checkpoint folder (atomically: the merge
    stage reads the fine-tuned card), returned for the metadata either way. Base models are hub
    checkpoints with their own cards: left alone."""
    card_path = Path(model_path) / "README.md"
    if CheckpointKey.parse(checkpoint).kind == "base" or not card_path.is_file():
        return None
    index = model_index(checkpoint, result.scores, task_catalogue(profile.eval), result.settings)
    card = with_eval_results(card_path.read_text(encoding="utf-8"), index, scores_table(result.scores))
    if write:
        tmp = card_path.with_name(f".README.{os.getpid()}.tmp")
        tmp.write_text(card, encoding="utf-8")
        os.replace(tmp, card_path)
    return card


# `eager()` without its "no dependency partition missing" clause: a registered checkpoint whose
# evaluation has not run (or failed) is normal and must not hold back the report of the others.
REFRESH_WHEN_SCORES_LAND = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("refresh when scores land")


def evaluated_checkpoints(instance: dg.DagsterInstance, store) -> list[str]:
    keys = instance.get_dynamic_partitions(checkpoint_partitions.name)
    return sorted(k for k in keys if store.exists("benchmark_scores", k))


def eval_report(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    checkpoints = evaluated_checkpoints(context.instance, store)
    if not checkpoints:
        raise dg.Failure("no checkpoint has benchmark_scores yet: materialize benchmark_scores for a checkpoint first")
    scores = pl.concat([store.read("benchmark_scores", c) for c in checkpoints], how="vertical_relaxed")
    references = load_reference_scores(profile.eval.reference_scores)
    comparison = build_comparison(scores, references)
    from luth_pipeline.core.eval.runner import eval_settings

    settings = eval_settings(profile.eval)
    markdown = render_markdown(comparison, settings, references)
    store.write_file(markdown.encode(), "eval_report", name="report.md")
    return dg.MaterializeResult(
        metadata={
            **publish_table(store, "eval_report", comparison),
            "checkpoints": dg.MetadataValue.json(checkpoints),
            "report": dg.MetadataValue.md(markdown),
            **publish_plot(store, "eval_report", bar_chart_png(comparison), "scores", "chart", filename="scores.png"),
        }
    )


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """benchmark_scores of `profile` per checkpoint, and the report over all of them."""
    version = code_version("eval", profile.eval)
    return dg.Definitions(assets=[
        dg.asset(
            key="benchmark_scores",
            partitions_def=partitions.checkpoint,
            deps=[
                dg.AssetDep("finetuned_checkpoint", partition_mapping=dg.AllPartitionMapping()),
                dg.AssetDep("merged_checkpoint", partition_mapping=dg.AllPartitionMapping()),
            ],
            group_name="eval",
            kinds={"lighteval", "pytorch"},
            pool="gpu",
            op_tags=step_tags(profile, "benchmark_scores"),  # a GPU pod sized from the profile (defs/scale_out.py)
            code_version=version,
            description=(
                "LightEval scores of one checkpoint (partition = `<base>.base`, `<base>.finetuned` or "
                "`<base>.merged.<recipe>`) on the French and English suites (configs/eval/): one row per "
                "task × metric with stderr and number of runs; per-sample details in table `details`. "
                "transformers in-process on CPU, vLLM in .venv-serve through Dagster Pipes on GPU."
            ),
        )(one_writer_per_partition(benchmark_scores)),
        dg.asset(
            key="eval_report",
            deps=[dg.AssetDep("benchmark_scores", partition_mapping=dg.AllPartitionMapping())],
            group_name="eval",
            kinds={"polars", "matplotlib"},
            code_version=version,
            automation_condition=REFRESH_WHEN_SCORES_LAND,
            description=(
                "Base vs fine-tuned vs every merge recipe vs the published Luth numbers "
                "(configs/eval/reference_scores.yaml): table with deltas, best α per base model "
                "highlighted, bar chart, and the eval settings used. Reads every evaluated checkpoint."
            ),
        )(one_writer_per_partition(eval_report)),
    ])
