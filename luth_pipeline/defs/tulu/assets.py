"""Tulu 3 persona prompts → French translations → regenerated French answers (+ LLM judge).

Every LLM call goes through the shared cached client (`llm` resource): re-running a stage after
a crash sends only the requests that had not finished, and rows keep their Tulu id end to end.
"""

import dagster as dg

from luth_pipeline.core.config import Profile
from luth_pipeline.core.llm.factory import endpoint_of
from luth_pipeline.core.tulu.generate import answer_prompts, translate_prompts
from luth_pipeline.core.tulu.load import load_prompts
from luth_pipeline.core.llm.prompts import PromptTemplate
from luth_pipeline.core.tulu.plots import char_length_histogram_png
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.metadata import llm_metadata
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.publish import publish_plot, publish_table
from luth_pipeline.defs.scale_out import gpu_pool, step_tags
from luth_pipeline.defs.tulu.metadata import rejects_metadata
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource

def _template_texts(profile: Profile, *names: str) -> list[str]:
    """Prompt template contents: editing a prompt makes the asset stale."""
    directory = profile.resolve_path(profile.tulu.prompts_dir)
    return [(directory / f"tulu_{n}.yaml").read_text(encoding="utf-8") if (directory / f"tulu_{n}.yaml").is_file() else ""
            for n in names]


def _source_files(profile: Profile) -> list:
    return [profile.resolve_path(f) for source in profile.tulu.sources.values() for f in (source.data_files or [])]


def _endpoints(profile: Profile, *stages) -> list:
    return [profile.llm.endpoints.get(s.endpoint) if s else None for s in stages]


def _templates(profile, *names: str) -> dict[str, PromptTemplate]:
    directory = profile.resolve_path(profile.tulu.prompts_dir)
    return {n: PromptTemplate.load(directory, f"tulu_{n}") for n in names}


def _require(stage, key: str):
    if stage is None:
        raise dg.Failure(f"`tulu.{key}` is not set in the profile: name an `llm.endpoints` entry and a model")
    return stage


def tulu_prompts(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.MaterializeResult:
    profile = luth_config.values
    prompts, rejects = load_prompts(profile.tulu.sources, profile.resolve_path)
    store = luth_storage.store
    per_source = prompts.group_by("source").len().sort("source")
    context.log.info(f"tulu_prompts: {prompts.height} prompts, {rejects.height} rejected")
    return dg.MaterializeResult(metadata={
        **publish_table(store, "tulu_prompts", prompts, rejects, preview_rows=profile.tulu.preview_rows),
        **rejects_metadata(rejects),
        "rows_per_source": dg.MetadataValue.json(dict(per_source.iter_rows())),
    })


def tulu_prompts_fr(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage,
                    llm: LLMClientResource) -> dg.MaterializeResult:
    profile = luth_config.values
    tulu = profile.tulu
    stage = _require(tulu.translate, "translate")
    store = luth_storage.store
    prompts = store.read("tulu_prompts")
    templates = _templates(profile, "translate")
    with llm.client(profile, stage, logger=context.log) as client:
        result = translate_prompts(prompts, client, stage, templates["translate"], tulu.translation_checks)
    stats = result.generation["translate"]
    # Finished translations are cached before this check: a failed run loses nothing.
    _check_failures(result.generation, profile.llm.max_failure_rate)
    png = char_length_histogram_png({"english": [len(p) for p in result.data["prompt_en"].to_list()],
                                     "french": [len(p) for p in result.data["prompt"].to_list()]},
                                    "prompt length before/after translation")
    return dg.MaterializeResult(metadata={
        **publish_table(store, "tulu_prompts_fr", result.data, result.rejects, upstream="tulu_prompts",
                        derived={"prompt": ["prompt"], "prompt_en": ["prompt"]}, preview_rows=tulu.preview_rows),
        **rejects_metadata(result.rejects), **llm_metadata("translate", stats),
        **publish_plot(store, "tulu_prompts_fr", png, "lengths", "length_plot", filename="lengths.png"),
        "endpoint": f"{stage.endpoint} ({endpoint_of(profile.llm, stage).backend})", "model": stage.model,
    })


def tulu_answers_fr(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage,
                    llm: LLMClientResource) -> dg.MaterializeResult:
    profile = luth_config.values
    tulu = profile.tulu
    stage = _require(tulu.answer, "answer")
    judge = tulu.judge if tulu.judge is not None and tulu.judge.enabled else None
    store = luth_storage.store
    prompts_fr = store.read("tulu_prompts_fr")
    templates = _templates(profile, "answer", "judge")
    with llm.client(profile, stage, logger=context.log) as client:
        if judge is None:
            result = answer_prompts(prompts_fr, client, stage, templates["answer"], tulu.answer_checks)
        else:
            with llm.client(profile, judge, logger=context.log) as judge_client:
                result = answer_prompts(prompts_fr, client, stage, templates["answer"], tulu.answer_checks,
                                        judge_client, judge, templates["judge"])
    _check_failures(result.generation, profile.llm.max_failure_rate)
    lengths: dict[str, list[int]] = {}
    for source, messages in zip(result.data["source"].to_list(), result.data["messages"].to_list()):
        lengths.setdefault(source, []).append(len(messages[-1]["content"]))
    png = char_length_histogram_png(lengths, "answer length by source")
    metadata = {
        **publish_table(store, "tulu_answers_fr", result.data, result.rejects, upstream="tulu_prompts_fr",
                        derived={"messages": ["prompt"], "parent_id": ["id"]}, preview_rows=tulu.preview_rows),
        **rejects_metadata(result.rejects),
        **publish_plot(store, "tulu_answers_fr", png, "lengths", "length_plot", filename="answer_lengths.png"),
        "judge": "off" if judge is None else f"{judge.endpoint}/{judge.model}",
        "rows_per_source": dg.MetadataValue.json(dict(result.data.group_by("source").len().sort("source").iter_rows())),
        "answer_tokens": int(result.data["completion_tokens"].sum() or 0),
    }
    for step, stats in result.generation.items():
        metadata.update(llm_metadata(step, stats))
    return dg.MaterializeResult(metadata=metadata)


def _check_failures(generation: dict, max_rate: float) -> None:
    for step, stats in generation.items():
        stats.check_failure_rate(max_rate, desc=f"tulu {step}")


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The Tulu chain of `profile`: prompts, French translations, French answers."""
    tulu = profile.tulu
    return dg.Definitions(assets=[
        dg.asset(
            group_name="tulu",
            kinds={"python", "polars", "parquet"},
            description="User prompts of the Tulu 3 persona instruction-following and persona math sets, Tulu ids kept, "
                        "exact duplicates (whitespace/case-insensitive) removed.",
            code_version=code_version("tulu", tulu.sources, files=_source_files(profile)),
        )(one_writer_per_partition(tulu_prompts)),
        dg.asset(
            group_name="tulu",
            kinds={"python", "polars", "parquet"},
            deps=["tulu_prompts"],
            description="Tulu prompts translated to French by the profile's translation LLM (cached); kept only when the "
                        "output is French (langdetect), its length ratio is sane and code blocks/LaTeX/markdown survive.",
            code_version=code_version("tulu", tulu.translate, tulu.translation_checks,
                                      *_endpoints(profile, tulu.translate), *_template_texts(profile, "translate")),
            pool=gpu_pool(profile, "tulu_prompts_fr"),
            op_tags=step_tags(profile, "tulu_prompts_fr"),  # offline vLLM: a GPU pod sized from the profile
        )(one_writer_per_partition(tulu_prompts_fr)),
        dg.asset(
            group_name="tulu",
            kinds={"python", "polars", "parquet"},
            deps=["tulu_prompts_fr"],
            description="French answers to the translated prompts by the teacher LLM (thinking off, cached), dropping "
                        "truncated, empty, refused and non-French answers, then upstream's LLM judge as a filter. "
                        "Chat table: user = French prompt, assistant = answer; source_id = the Tulu id.",
            code_version=code_version("tulu", tulu.answer, tulu.judge, tulu.answer_checks,
                                      *_endpoints(profile, tulu.answer, tulu.judge),
                                      *_template_texts(profile, "answer", "judge")),
            pool=gpu_pool(profile, "tulu_answers_fr"),
            op_tags=step_tags(profile, "tulu_answers_fr"),
        )(one_writer_per_partition(tulu_answers_fr)),
    ])
