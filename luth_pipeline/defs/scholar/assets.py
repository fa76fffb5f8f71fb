"""Scholar: French exam PDFs → Gemini extraction → refined, filtered exercises (`luth_scholar`).

scholar_pdfs         manifest → downloads (retries, limits) → sha256 blobs → PDF validation
scholar_extractions  PyMuPDF text / page images → questions → context → answers → enrichment
scholar_exercises    refinement → anomaly filter → chat messages with subject/difficulty labels
"""

import collections

import dagster as dg
import polars as pl

from luth_pipeline.core.config import Profile
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.scholar.chain import Prompts, run_chain
from luth_pipeline.core.scholar.download import BlobStore
from luth_pipeline.core.scholar.exercises import build_exercises, reject_counts, subject_mix
from luth_pipeline.core.scholar.inventory import build_inventory, open_exam
from luth_pipeline.core.scholar.report import counts_markdown, mix_markdown, steps_markdown, subject_mix_png
from luth_pipeline.defs.locking import one_writer_per_partition
from luth_pipeline.defs.partitions import Partitions
from luth_pipeline.defs.publish import publish_plot, publish_table
from luth_pipeline.defs.scholar.tables import (
    EXERCISE_REJECT_SCHEMA,
    EXERCISE_SCHEMA,
    EXTRACTION_REJECT_SCHEMA,
    EXTRACTION_SCHEMA,
    PDF_SCHEMA,
    frame,
)
from luth_pipeline.defs.versions import code_version
from luth_pipeline.resources import LuthConfig, LuthStorage
from luth_pipeline.resources.llm import LLMClientResource

GROUP = "scholar"


def _version(profile: Profile) -> str:
    config = profile.scholar
    inputs = (profile.resolve_path(config.manifest), profile.resolve_path(config.prompts_dir))
    return code_version("scholar", config, files=inputs)  # manifest and prompts: edits make it stale


def _blobs(luth_storage: LuthStorage) -> BlobStore:
    return BlobStore(f"{luth_storage.store.root}/scholar_pdfs/blobs")


def scholar_pdfs(context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage) -> dg.MaterializeResult:
    config, store = luth_config.values.scholar, luth_storage.store
    inventory = build_inventory(config, REPO_ROOT, _blobs(luth_storage), log=context.log.info)
    data = frame(inventory.exams, PDF_SCHEMA)
    files = pl.DataFrame([vars(f) for f in inventory.files]) if inventory.files else pl.DataFrame()
    rejects = frame(inventory.rejects, {"exam_id": pl.String, "role": pl.String, "location": pl.String, "reason": pl.String})
    return dg.MaterializeResult(metadata={
        **publish_table(store, "scholar_pdfs", data, rejects, tables={"files": files},
                        rejects_preview=["exam_id", "role", "location", "reason"]),
        "exams_usable": len(inventory.exams),
        "files_listed": len(inventory.files),
        "files_rejected": sum(f.status != "ok" for f in inventory.files),
        "pdfs_stored_new": sum(f.stored == "new" for f in inventory.files),
        "pdfs_deduplicated": sum(f.stored == "dedup" for f in inventory.files),
        "pages": int(data["sujet_pages"].sum() + data["corrige_pages"].sum()) if data.height else 0,
        "pages_without_text": int(data["sujet_image_pages"].sum() + data["corrige_image_pages"].sum()) if data.height else 0,
        "blobs": dg.MetadataValue.path(_blobs(luth_storage).root),
    })


def scholar_extractions(
    context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage, llm: LLMClientResource
) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    config = profile.scholar
    exams = store.read("scholar_pdfs").to_dicts()
    blobs = _blobs(luth_storage)
    documents = [open_exam(row, blobs, config) for row in exams]
    prompts = Prompts(profile.resolve_path(config.prompts_dir))
    with llm.client(profile, config.extraction, context.log) as client:
        result = run_chain(documents, client, config.extraction, prompts, log=context.log.info)
    data = frame(result.items, EXTRACTION_SCHEMA)
    rejects = frame(result.rejects, EXTRACTION_REJECT_SCHEMA)
    published = publish_table(store, "scholar_extractions", data, rejects, upstream="scholar_pdfs",
                              rejects_preview=["exam_id", "step", "path", "reason"])
    failed_share = len(result.failed_exams) / len(exams) if exams else 0.0
    if failed_share > config.max_failed_exam_share:
        raise RuntimeError(
            f"scholar_extractions: {failed_share:.0%} of exams failed (> scholar.max_failed_exam_share="
            f"{config.max_failed_exam_share:.0%}); see {published['rejects_path'].value}. Every finished reply is cached: "
            "fix the endpoint or prompts and re-run, only the failed requests are sent again."
        )
    return dg.MaterializeResult(metadata={
        **published,
        "exams": len(exams),
        "exams_failed": len(result.failed_exams),
        # exercises (step 1) or questions (steps 2-4) a reply lost or garbled: rejected, never silently missing
        "items_rejected": sum(r["path"] is not None for r in result.rejects),
        "rejected_by_step": dg.MetadataValue.json(dict(collections.Counter(r["step"] for r in result.rejects))),
        "items_per_exam": dg.MetadataValue.json(data.group_by("exam_id").len().sort("exam_id").to_dicts() if data.height else []),
        "steps": dg.MetadataValue.md(steps_markdown(result.steps)),
        "llm_requests": sum(s.requests for s in result.steps.values()),
        "llm_cache_hits": sum(s.cache_hits for s in result.steps.values()),
        "replies_repaired": sum(s.parse["latex_escapes"] + s.parse["json_repair"] for s in result.steps.values()),
        "replies_cut_at_max_tokens": sum(s.truncated for s in result.steps.values()),
    })


def scholar_exercises(
    context: dg.AssetExecutionContext, luth_config: LuthConfig, luth_storage: LuthStorage, llm: LLMClientResource
) -> dg.MaterializeResult:
    profile, store = luth_config.values, luth_storage.store
    config = profile.scholar
    items = store.read("scholar_extractions").to_dicts()
    prompts = Prompts(profile.resolve_path(config.prompts_dir))
    with llm.client(profile, config.refinement, context.log) as client:
        result = build_exercises(items, client, config, prompts, log=context.log.info)
    data = frame(result.rows, EXERCISE_SCHEMA)
    rejects = frame(result.rejects, EXERCISE_REJECT_SCHEMA)
    mix = subject_mix(result.rows)
    png = subject_mix_png(mix, config.reference_subject_mix, f"Subject mix of {data.height} exercises vs the Luth report")
    pdfs = store.read("scholar_pdfs")
    # the funnel from usable exams to kept exercises, with what extraction rejected (exams or questions)
    extraction_rejects = store.read("scholar_extractions", table="rejects").height
    counts = {"exams_usable": pdfs.height, "extraction_rejects": extraction_rejects, **result.counts}
    subject_counts = dict(data.group_by("subject").len().iter_rows()) if data.height else {}
    return dg.MaterializeResult(metadata={
        **publish_table(store, "scholar_exercises", data, rejects, upstream="scholar_extractions",
                        rejects_preview=["id", "reason", "question"]),
        "counts_per_step": dg.MetadataValue.md(counts_markdown(counts)),
        "rejected_by_check": dg.MetadataValue.json(reject_counts(result.rejects)),
        "refine_requests": result.refine.requests,
        "refine_cache_hits": result.refine.cache_hits,
        "refine_replies_repaired": result.refine.parse["latex_escapes"] + result.refine.parse["json_repair"],
        "difficulty": dg.MetadataValue.json(dict(data.group_by("difficulty").len().iter_rows()) if data.height else {}),
        "subject_mix": dg.MetadataValue.md(mix_markdown(mix, config.reference_subject_mix, subject_counts)),
        **publish_plot(store, "scholar_exercises", png, "subject mix", "subject_mix_plot", filename="subject_mix.png"),
    })


def build(profile: Profile, partitions: Partitions) -> dg.Definitions:
    """The Scholar chain of `profile`: PDFs, extractions, exercises (one code version: they share config and inputs)."""
    version = _version(profile)
    return dg.Definitions(assets=[
        dg.asset(
            key="scholar_pdfs",
            group_name=GROUP,
            kinds={"pdf", "parquet"},
            code_version=version,
            description=(
                "Exam PDFs from the manifest (`scholar.manifest`: URLs or folder globs with level, contest, subject, year), "
                "each subject paired with its official correction. Downloads retry with backoff under size and content-type "
                "limits; bytes are stored once per sha256; each file is opened with PyMuPDF and rejected with a per-file reason "
                "(truncated, encrypted, not a PDF, zero pages, too many pages, scanned, broken xref, …) without stopping the others."
            ),
        )(one_writer_per_partition(scholar_pdfs)),
        dg.asset(
            key="scholar_extractions",
            deps=["scholar_pdfs"],
            group_name=GROUP,
            kinds={"gemini", "pymupdf", "parquet"},
            code_version=version,
            description=(
                "Upstream's four-step chain per exam on the shared LLM client (cached, rate-limited): questions from the subject, "
                "their context, answers from the official correction only, contexts enriched with earlier results. PyMuPDF text, "
                "and PNG page images where a page has no text layer; structured output (pydantic schemas) plus a repair step "
                "(raw LaTeX backslashes, json_repair, item-wise validation). Each item keeps both PDFs' sha256 and page ranges."
            ),
        )(one_writer_per_partition(scholar_extractions)),
        dg.asset(
            key="scholar_exercises",
            deps=["scholar_extractions"],
            group_name=GROUP,
            kinds={"gemini", "parquet"},
            code_version=version,
            description=(
                "Refinement pass (fix French and LaTeX, complete the context, step-by-step answer, difficulty, needs-figure), "
                "then the anomaly filter: empty/answer-less, unbalanced $ or braces or LaTeX that pylatexenc cannot parse, "
                "non-French (the per-turn rule, fastText), needs a figure, duplicates (exact + MinHash), answer restating the question. "
                "Chat rows: user = context + question, assistant = the worked answer; rejects with their reason."
            ),
        )(one_writer_per_partition(scholar_exercises)),
    ])
