"""From the manifest to a table of usable exam pairs, plus the reason for every file that failed.

Each subject and correction is fetched (URL or path), stored by sha256, and opened with
PyMuPDF to check it is an extractable PDF. An exam is usable when both of its files are; an
exam whose two files are byte-identical to an earlier exam's is the same exam listed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from luth_pipeline.core.scholar.config import ScholarConfig
from luth_pipeline.core.scholar.download import BlobStore, FetchFailure, fetch, make_client
from luth_pipeline.core.scholar.manifest import ExamEntry, load_manifest, resolve_exams
from luth_pipeline.core.scholar.pdf import PdfRejected, read_pdf

ROLES = ("sujet", "corrige")


@dataclass
class FileRecord:
    exam_id: str
    role: str  # "sujet" (the exam) or "corrige" (its official correction)
    location: str
    status: str  # "ok" or "rejected"
    reason: str | None = None
    sha256: str | None = None
    uri: str | None = None
    bytes: int = 0
    stored: str | None = None  # "new", or "dedup" when identical bytes were already stored
    pages: int = 0
    text_pages: int = 0
    image_pages: int = 0


@dataclass
class Inventory:
    exams: list[dict]  # usable exam pairs with metadata and both files' sha256/uri/page counts
    files: list[FileRecord]  # every file, ok or not
    rejects: list[dict]  # one row per failed file or exam: exam_id, role, location, reason


def _check_file(exam: ExamEntry, role: str, config: ScholarConfig, blobs: BlobStore, client, root: Path) -> FileRecord:
    location = getattr(exam, role)
    record = FileRecord(exam_id=exam.id, role=role, location=location, status="rejected")
    try:
        fetched = fetch(location, config.download, blobs, client, root)
        record.sha256, record.uri, record.bytes = fetched.sha256, blobs.uri(fetched.sha256), len(fetched.data)
        record.stored = "new" if fetched.new else "dedup"
        info, _ = read_pdf(fetched.data, config.pdf, render=False)
    except (FetchFailure, PdfRejected) as exc:
        record.reason = str(exc)
        return record
    except Exception as exc:  # never let one file stop the others; keep the cause visible
        record.reason = f"unexpected error: {type(exc).__name__}: {exc}"
        return record
    record.status = "ok"
    record.pages, record.text_pages, record.image_pages = info.page_count, info.text_pages, info.image_pages
    return record


def build_inventory(config: ScholarConfig, root: Path, blobs: BlobStore, log: Callable[[str], None] = print) -> Inventory:
    manifest_path = Path(config.manifest) if Path(config.manifest).is_absolute() else root / config.manifest
    exams, pairing_problems = resolve_exams(load_manifest(manifest_path), root)
    rejects = [{"exam_id": None, "role": "sujet", "location": p.path, "reason": f"pairing: {p.reason}"} for p in pairing_problems]
    jobs = [(exam, role) for exam in exams for role in ROLES]
    log(f"scholar_pdfs: {len(exams)} exams ({len(jobs)} files) from {manifest_path}")
    with make_client(config.download) as client, ThreadPoolExecutor(max_workers=config.download.concurrency) as pool:
        records = list(pool.map(lambda job: _check_file(job[0], job[1], config, blobs, client, root), jobs))
    by_exam = {(r.exam_id, r.role): r for r in records}

    usable, seen_pairs = [], {}
    for exam in exams:
        sujet, corrige = by_exam[(exam.id, "sujet")], by_exam[(exam.id, "corrige")]
        failed = [r for r in (sujet, corrige) if r.status != "ok"]
        for record in failed:
            log(f"  ✗ {exam.id} {record.role}: {record.reason}")
            rejects.append({"exam_id": exam.id, "role": record.role, "location": record.location, "reason": record.reason})
        if failed:
            continue
        if sujet.sha256 == corrige.sha256:
            rejects.append({"exam_id": exam.id, "role": "pair", "location": sujet.location,
                            "reason": "subject and correction are the same file: fix the manifest entry"})
            continue
        pair = (sujet.sha256, corrige.sha256)
        if pair in seen_pairs:
            rejects.append({"exam_id": exam.id, "role": "pair", "location": sujet.location,
                            "reason": f"duplicate exam: same two PDFs as {seen_pairs[pair]} (stored once)"})
            continue
        seen_pairs[pair] = exam.id
        row = exam.model_dump(exclude={"sujet", "corrige"})
        row = {"id": row["id"], "exam_id": row.pop("id"), **row}  # `id` for lineage lookups
        for record in (sujet, corrige):
            row.update({f"{record.role}_{k}": v for k, v in asdict(record).items()
                        if k in ("location", "sha256", "uri", "bytes", "pages", "image_pages")})
        usable.append(row)
    log(f"scholar_pdfs: {len(usable)} usable exam pairs, {len(rejects)} rejected files/exams, "
        f"{sum(r.stored == 'new' for r in records)} PDFs newly stored")
    return Inventory(exams=usable, files=records, rejects=rejects)


def open_exam(row: dict, blobs: BlobStore, config: ScholarConfig):
    """The pages of an exam pair from the blob store, text-less pages rendered to PNG."""
    from luth_pipeline.core.scholar.chain import ExamDocuments

    _, sujet = read_pdf(blobs.get(row["sujet_sha256"]), config.pdf)
    _, corrige = read_pdf(blobs.get(row["corrige_sha256"]), config.pdf)
    return ExamDocuments(exam=row, sujet=sujet, corrige=corrige)
