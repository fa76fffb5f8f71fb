"""french_samples: the rows of each source that are French, non-empty, of sane length and unique
(and, for a source with `llm_judge`, accepted by upstream's LLM judge)."""

import contextlib

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.french import default_steps, run_filters
from luth_pipeline.core.french.judge import LLMJudge, load_judge_template
from luth_pipeline.core.french.report import FRENCH_SCHEMA, REJECT_COLUMNS, frame, language_histogram_png, steps_markdown
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.metadata import llm_metadata
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.publish import publish_plot, publish_table
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource

ASSET = "french_samples"
UPSTREAM = "raw_multilingual_dumps"
DESCRIPTIONS = {
    "french_probability": "lowest French probability among the chat's judged segments (turns, paragraphs, whole chat)",
    "language": "fr when every judged segment is French, else the language of the first one that is not",
    "langid_segments": "segments language ID judged (turns or paragraphs long enough, plus the whole chat if some are short)",
    "num_chars": "characters of the text language ID read",
    "filters_passed": "the filter steps this row passed, in order",
}


def _code_version(profile: Profile) -> str:
    turns = {name: cfg.language_id_on for name, cfg in profile.sources.items()}
    judges = {name: cfg.llm_judge for name, cfg in profile.sources.items() if cfg.llm_judge}
    endpoints = {name: profile.llm.endpoints.get(j.endpoint) for name, j in judges.items()}
    prompts = [p for j in judges.values() if (p := profile.resolve_path(j.prompt)).is_file()]  # editing one makes it stale
    return code_version("french", profile.french, turns, judges, endpoints, files=prompts)


def french_samples(
    context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage, llm: LLMClientResource
) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    name = context.partition_key
    raw = store.read(UPSTREAM, name)
    rows = [
        {**row, "id": f"french/{name}/{row['source_id']}", "parent_asset": UPSTREAM, "parent_id": row["id"]}
        for row in raw.iter_rows(named=True)
    ]
    turns = profile.sources[name].language_id_on
    judge_cfg = profile.sources[name].llm_judge
    steps, judge = default_steps(profile.french), None
    with llm.client(profile, judge_cfg, logger=context.log) if judge_cfg else contextlib.nullcontext() as client:
        if judge_cfg:
            template = load_judge_template(profile.resolve_path(judge_cfg.prompt), f"sources.{name}.llm_judge.prompt")
            steps.append(judge := LLMJudge(client, judge_cfg, template))
        result = run_filters(rows, steps, turns, logger=context.log)
    if judge is not None and judge.stats is not None:
        judge.stats.check_failure_rate(profile.llm.max_failure_rate, desc=f"{name} llm_judge")
    data = frame(result.kept, FRENCH_SCHEMA)
    rejects = frame(result.rejected, {**FRENCH_SCHEMA, **REJECT_COLUMNS})
    png = language_histogram_png(result.languages, f"{name}: detected language of rows read by language ID")
    reasons = result.reasons
    duplicates = reasons.get("exact_duplicate", 0) + reasons.get("near_duplicate", 0)
    deduped = next(s for s in result.stats if s.name == "exact_dedup").rows_in
    context.log.info(f"{name}: {raw.height} -> {data.height} French rows; rejected {reasons}")
    return dg.MaterializeResult(metadata={
        **publish_table(store, ASSET, data, rejects, partition=name, upstream=UPSTREAM, descriptions=DESCRIPTIONS,
                        rejects_preview=["id", "reason", "reason_detail", "messages"], rejects_per_reason=2,
                        rejects_key="rejects_preview"),
        "rows_in": raw.height,
        "rows_rejected": rejects.height,
        "rejected_by_reason": dg.MetadataValue.json(reasons),
        "filter_steps": dg.MetadataValue.md(steps_markdown(result.stats)),
        "dedup_rate": dg.MetadataValue.float(round(duplicates / deduped, 4) if deduped else 0.0),
        "language_histogram": dg.MetadataValue.json(result.languages),
        **publish_plot(store, ASSET, png, "languages", "language_plot", partition=name, filename="languages.png"),
        "llm_judge": "off" if judge is None else f"{judge_cfg.endpoint}/{judge_cfg.model}",
        **(llm_metadata("judge", judge.stats) if judge is not None and judge.stats is not None else {}),
    })


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """french_samples of `profile`, one partition per source."""
    return dg.Definitions(assets=[
        dg.asset(
            key=ASSET,
            partitions_def=partitions.sources,
            deps=[UPSTREAM],
            group_name="french",
            kinds={"fasttext", "parquet"},
            code_version=_code_version(profile),
            description=(
                "French rows of each source: chat schema and length filters, the per-turn French rule (every turn or "
                "paragraph long enough to judge is French per fastText lid.176, short turns judged with the whole chat; "
                "code reduced to its comments, LaTeX/URLs/numbers/emoji ignored), exact dedup on normalized text "
                "and MinHash near-dedup; a source with `llm_judge` (openhermes_fr in the gpu profile) then goes through "
                "upstream's True/False LLM judge (Qwen3-32B). Each row keeps the filters it passed and its French probability; rejected rows "
                "go to the `rejects` table with their reason."
            ),
        )(one_writer_per_partition(french_samples)),
    ])
