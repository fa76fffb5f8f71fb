"""Open exam PDFs with PyMuPDF: validate them, read their text, render pages that have none.

`inspect_pdf` turns every way a file can be unusable into a `PdfRejected` whose message says
what is wrong with *that file* and what to do, so one bad download never stops the others.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

from luth_pipeline.core.scholar.config import PdfLimits

if TYPE_CHECKING:  # PyMuPDF is imported where a PDF is opened, not when the definitions load
    import pymupdf

# What a file that is not a PDF usually turns out to be (first bytes → name).
_MAGIC = {
    b"<!doctype html": "an HTML page (the server sent an error or login page, not the PDF)",
    b"<html": "an HTML page (the server sent an error or login page, not the PDF)",
    b"\x89png": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"pk\x03\x04": "a ZIP archive (a .docx/.odt or a zipped bundle?)",
    b"{": "a JSON document",
    b"<?xml": "an XML document",
}


class PdfRejected(ValueError):
    """This file cannot be extracted; the message is the per-file reason recorded."""


@dataclass(frozen=True)
class PageContent:
    number: int  # 1-based, as printed on the exam
    text: str
    image_png: bytes | None = None  # set when the page has no text layer

    def image_part(self) -> dict:
        """The page image as an LLM message part (see core/llm/types.py)."""
        assert self.image_png is not None
        return {"type": "image", "mime_type": "image/png", "data_b64": base64.b64encode(self.image_png).decode()}


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    text_pages: int
    image_pages: int  # pages with no text layer, to be sent as images
    chars: int


def _sniff_not_pdf(data: bytes) -> str | None:
    if not data:
        return "empty file (0 bytes): the download or copy produced nothing; fetch it again"
    head = data[:1024].lstrip().lower()
    if head.startswith(b"%pdf-"):
        return None
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return f"not a PDF: the file is {what}; check the URL/path points at the PDF itself"
    if b"%pdf-" in data[:1024].lower():
        return None  # leading junk before the header is tolerated by every reader
    return f"not a PDF: no %PDF- header (starts with {data[:16]!r}); check the URL/path"


def _open(data: bytes, limits: PdfLimits) -> pymupdf.Document:
    problem = _sniff_not_pdf(data)
    if problem:
        raise PdfRejected(problem)
    # A download cut short has no end-of-file marker: MuPDF would "repair" it and hand back
    # whatever pages survived, which silently loses questions.
    if b"%%EOF" not in data[-2048:]:
        raise PdfRejected("truncated: no %%EOF marker at the end (interrupted download?); download it again")
    import pymupdf

    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # MuPDF raises its own FileDataError/RuntimeError family
        raise PdfRejected(f"unreadable PDF: MuPDF cannot open it ({exc}); the file is damaged, fetch a fresh copy") from None
    if doc.needs_pass:
        doc.close()
        raise PdfRejected("encrypted: the PDF needs a password to open; get an unprotected copy")
    if doc.is_repaired and not limits.accept_repaired:
        doc.close()
        raise PdfRejected(
            "damaged: broken cross-reference table (MuPDF had to rebuild it, pages may be missing); "
            "fetch a fresh copy or set scholar.pdf.accept_repaired: true"
        )
    return doc


def _has_ink(page: pymupdf.Page) -> bool:
    """Whether a text-less page shows anything (an image or vector drawing) worth sending."""
    return bool(page.get_images(full=False)) or bool(page.get_drawings())


def read_pdf(data: bytes, limits: PdfLimits, render: bool = True) -> tuple[PdfInfo, list[PageContent]]:
    """Validate a PDF and read its pages; raises `PdfRejected` with a per-file reason."""
    doc = _open(data, limits)
    try:
        if doc.page_count == 0:
            raise PdfRejected("zero pages: the PDF opens but has no page; the source file is empty")
        if doc.page_count > limits.max_pages:
            raise PdfRejected(
                f"too many pages: {doc.page_count} > scholar.pdf.max_pages={limits.max_pages} "
                "(a whole annal/collection rather than one exam?); split it or raise the limit"
            )
        pages: list[PageContent] = []
        try:
            for page in doc:
                text = page.get_text("text").strip()
                if len(text) >= limits.min_text_chars:
                    pages.append(PageContent(page.number + 1, text))
                elif text or _has_ink(page):
                    # No usable text layer (a scanned or drawn page): the model reads its image.
                    image = page.get_pixmap(dpi=limits.render_dpi).tobytes("png") if render else None
                    pages.append(PageContent(page.number + 1, text, image))
                # else: a blank page, nothing to read
        except Exception as exc:
            raise PdfRejected(f"unreadable page content: MuPDF failed while reading pages ({exc}); fetch a fresh copy") from None
        text_pages = sum(1 for p in pages if len(p.text) >= limits.min_text_chars)
        image_pages = len(pages) - text_pages
        if not pages:
            raise PdfRejected("blank: no page has text or images; the file holds no exam")
        if text_pages == 0 and not limits.allow_scanned:
            raise PdfRejected(
                f"scanned document: none of its {doc.page_count} pages has a text layer; "
                "OCR it first or set scholar.pdf.allow_scanned: true to send every page as an image"
            )
        if image_pages > limits.max_image_pages:
            raise PdfRejected(
                f"too many pages without text: {image_pages} > scholar.pdf.max_image_pages="
                f"{limits.max_image_pages}; OCR it first or raise the limit"
            )
        info = PdfInfo(doc.page_count, text_pages, image_pages, sum(len(p.text) for p in pages))
        return info, pages
    finally:
        doc.close()
