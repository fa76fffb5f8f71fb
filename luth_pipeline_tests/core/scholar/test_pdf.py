"""PDF validation: every corrupt case gets its own clear reason; the fixture exams read fully."""

import json
from pathlib import Path

import pytest

from luth_pipeline.core.scholar.config import PdfLimits, ScholarConfig
from luth_pipeline.core.scholar.download import BlobStore
from luth_pipeline.core.scholar.inventory import build_inventory
from luth_pipeline.core.scholar.pdf import PdfRejected, read_pdf
from luth_pipeline.demo_data import DEMO_DATA

FIXTURES = Path(__file__).parents[2] / "fixtures" / "scholar"  # the corrupt-PDF suite (test data)
PDFS = DEMO_DATA / "scholar" / "pdfs"  # the demo exams
EXPECTED = json.loads((FIXTURES / "corrupt" / "EXPECTED.json").read_text())


def test_the_suite_covers_the_issue_cases():
    assert len(EXPECTED) >= 10
    for case in ("truncated", "encrypted", "zero-pages", "html-saved-as", "huge-page-count", "scanned-only", "broken-xref"):
        assert any(name.startswith(case) for name in EXPECTED), case


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corrupt_pdf_is_rejected_with_its_reason(name):
    with pytest.raises(PdfRejected) as excinfo:
        read_pdf((FIXTURES / "corrupt" / name).read_bytes(), PdfLimits())
    assert EXPECTED[name] in str(excinfo.value)


def test_limits_are_knobs_not_constants():
    data = (FIXTURES / "corrupt" / "broken-xref.pdf").read_bytes()
    info, pages = read_pdf(data, PdfLimits(accept_repaired=True))
    assert info.page_count == 2 and "Exercice 1" in pages[0].text
    info, pages = read_pdf((FIXTURES / "corrupt" / "scanned-only.pdf").read_bytes(), PdfLimits(allow_scanned=True))
    assert info.image_pages == 2 and all(p.image_png.startswith(b"\x89PNG") for p in pages)


def test_fixture_exam_text_and_the_scanned_page_as_image():
    info, pages = read_pdf((PDFS / "bac-2024-maths-metropole-sujet.pdf").read_bytes(), PdfLimits())
    assert (info.page_count, info.text_pages, info.image_pages) == (3, 2, 1)
    assert "Exercice 1" in pages[0].text and "u0 = 2" in pages[0].text and "ℕ" in pages[0].text
    assert "f(x) = x e−x" in pages[1].text
    scanned = pages[2]
    assert scanned.number == 3 and scanned.text == "" and scanned.image_png.startswith(b"\x89PNG")
    assert scanned.image_part()["mime_type"] == "image/png"


def test_one_bad_file_never_stops_the_others(tmp_path):
    good = PDFS
    lines = ["exams:"]
    for i, name in enumerate(sorted(EXPECTED)):
        lines += [f"  - {{id: bad-{i}, level: Bac, contest: x, subject: maths, year: 2020,",
                  f"     sujet: {FIXTURES / 'corrupt' / name}, corrige: {good / 'bac-2022-svt-metropole-corrige.pdf'}}}"]
    lines += ["  - {id: good, level: CPGE, contest: CCINP, subject: physique, year: 2023,",
              f"     sujet: {good / 'cpge-2023-ccinp-physique-mp-sujet.pdf'}, corrige: {good / 'cpge-2023-ccinp-physique-mp-corrige.pdf'}}}",
              "  - {id: missing, level: Bac, contest: x, subject: svt, year: 2020,",
              f"     sujet: {tmp_path / 'nope.pdf'}, corrige: {good / 'bac-2022-svt-metropole-corrige.pdf'}}}"]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("\n".join(lines))
    inventory = build_inventory(ScholarConfig(manifest=str(manifest)), tmp_path, BlobStore(str(tmp_path / "blobs")), log=lambda _: None)
    assert [e["exam_id"] for e in inventory.exams] == ["good"]
    reasons = {r["exam_id"]: r["reason"] for r in inventory.rejects}
    for i, name in enumerate(sorted(EXPECTED)):
        assert EXPECTED[name] in reasons[f"bad-{i}"]
    assert "missing file" in reasons["missing"] and "nope.pdf" in reasons["missing"]
    # the correction shared by every bad exam is stored once
    svt = [f for f in inventory.files if f.location.endswith("bac-2022-svt-metropole-corrige.pdf")]
    assert [f.stored for f in svt].count("new") == 1 and len({f.sha256 for f in svt}) == 1
