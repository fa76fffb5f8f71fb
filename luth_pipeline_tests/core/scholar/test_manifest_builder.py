"""The Scholar manifest builder on saved index pages (sujetdebac.fr- and prepas.org-style HTML) and
on a folder of PDFs: upstream's pairing rules, metadata from names and link texts, what is left out."""

from pathlib import Path

import pytest

from luth_pipeline.core.config import ConfigError
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.scholar.manifest import load_manifest, resolve_exams
from luth_pipeline.core.scholar.manifest_builder import (
    DEFAULT_SOURCES,
    build_from_folder,
    build_from_pages,
    crawl,
    links_from_html,
    load_exam_sources,
    main,
)
from luth_pipeline_tests.conftest import FIXTURES

PAGES = FIXTURES / "scholar" / "index_pages"
BAC = "https://www.sujetdebac.fr"
SAVED = {
    f"{BAC}/": "sujetdebac_home.html",
    f"{BAC}/annales/spe-mathematiques": "sujetdebac_spe-mathematiques.html",
    f"{BAC}/annales/spe-physique-chimie": "sujetdebac_spe-physique-chimie.html",
    f"{BAC}/annales/lv-anglais": "sujetdebac_lv-anglais.html",
}


@pytest.fixture(scope="module")
def sites():
    return load_exam_sources(REPO_ROOT / DEFAULT_SOURCES).sites


def _saved_page(url: str) -> str:
    if url not in SAVED:
        raise OSError(f"404 {url}")
    return (PAGES / SAVED[url]).read_text(encoding="utf-8")


def test_config_names_upstreams_real_sites(sites):
    assert sites["sujetdebac"].url == "https://www.sujetdebac.fr/" and sites["sujetdebac"].level == "Bac"
    assert sites["prepas"].index_pages == ["https://prepas.org/index.php?module=Sujets"] and sites["prepas"].level == "CPGE"


def test_links_are_absolute_deduplicated_pdfs(sites):
    html = (PAGES / "sujetdebac_spe-mathematiques.html").read_text(encoding="utf-8")
    docs = links_from_html(html, f"{BAC}/annales/spe-mathematiques", sites["sujetdebac"])
    urls = [d.location for d in docs]
    assert len(urls) == len(set(urls)) == 8  # the fragment and the direct link of one correction are one document
    assert all(u.startswith(f"{BAC}/annales-pdf/") and u.endswith(".pdf") for u in urls)
    first = docs[0]
    assert first.name == "spe-mathematiques-2024-metropole-1-sujet-officiel.pdf" and first.label == "Sujet officiel"


def test_crawl_follows_same_site_pages_only(sites):
    logged = []
    pages = crawl(sites["sujetdebac"].model_copy(update={"crawl_depth": 1}), _saved_page, logged.append)
    assert set(pages) == set(SAVED)  # not education.gouv.fr, not the mp3
    assert logged == [f"skipped {BAC}/contact: 404 {BAC}/contact"]


def test_bac_pairs_by_upstreams_name_rules_with_metadata(sites):
    pages = crawl(sites["sujetdebac"].model_copy(update={"crawl_depth": 1}), _saved_page, lambda _: None)
    manifest, problems = build_from_pages(pages, sites["sujetdebac"], "sujetdebac")
    assert sorted((e.year, e.subject) for e in manifest.exams) == [
        (2022, "physics-chemistry"), (2023, "physics-chemistry"), (2024, "maths"), (2024, "maths")]
    by_id = {e.id: e for e in manifest.exams}
    assert set(by_id) == {
        "bac-sujetdebac-spe-mathematiques-2024-metropole-1-sujet-officiel",
        "bac-sujetdebac-spe-mathematiques-2024-metropole-2-sujet",
        "bac-sujetdebac-spe-physique-chimie-2023-metropole-2-sujet",
        "bac-sujetdebac-spe-physique-chimie-2022-amerique-nord-1-sujet-officiel",
    }
    officiel = by_id["bac-sujetdebac-spe-mathematiques-2024-metropole-1-sujet-officiel"]  # corrige → sujet-officiel
    assert officiel.corrige == f"{BAC}/annales-pdf/2024/spe-mathematiques-2024-metropole-1-corrige.pdf"
    assert (officiel.level, officiel.contest, officiel.subject, officiel.year) == ("Bac", "Bac général", "maths", 2024)
    reasons = {Path(p.path).name: p.reason for p in problems}
    assert reasons["spe-mathematiques-2021-centres-etrangers-1-corrige.pdf"].startswith("no subject on the page")
    assert reasons["spe-mathematiques-2021-polynesie-sujet.pdf"] == "no correction found for this subject"
    assert reasons["spe-mathematiques-exemple-1-sujet.pdf"].startswith("no year")
    assert reasons["anglais-lva-2024-metropole-sujet.pdf"] == reasons["anglais-lva-2024-metropole-corrige.pdf"] == "excluded by rule 'anglais'"
    assert len(problems) == 5


def test_prepas_saved_result_page_pairs_cpge_files(sites):
    url = "https://prepas.org/index.php?module=Sujets"
    html = (PAGES / "prepas_sujets_ccinp.html").read_text(encoding="utf-8")
    manifest, problems = build_from_pages({url: html}, sites["prepas"], "prepas")
    got = {(e.contest, e.subject, e.year) for e in manifest.exams}
    assert got == {("CCINP", "maths", 2023), ("CCINP", "physics-chemistry", 2022), ("CCINP", "computer-science", 2021)}
    maths = next(e for e in manifest.exams if e.subject == "maths")
    assert maths.sujet == "https://prepas.org/index.php?module=Sujets&file=doc&id=4821"
    assert maths.corrige.endswith("id=4822") and maths.level == "CPGE"
    reasons = sorted(p.reason for p in problems)
    assert reasons == ["excluded by rule '\\\\(1\\\\)'", "excluded by rule '_(e|c)[b-d]\\\\.pdf$'",
                       "no year in the file name or link text (upstream dropped these too)"]


def test_folder_of_pdfs_and_the_written_manifest_loads(sites, tmp_path):
    folder = tmp_path / "ccmp"
    folder.mkdir()
    for name in ["mines_2024_mp_phys_e.pdf", "mines_2024_mp_phys_ca.pdf", "mines_2019_psi_math_da.pdf",
                 "mines_2019_psi_math_ca.pdf", "mines_2020_mp_chim_e.pdf", "notes.txt"]:
        (folder / name).write_bytes(b"%PDF-1.4\n")
    out = tmp_path / "manifest.yaml"
    assert main(["--site", "prepas", "--folder", str(folder), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "# 2 exam(s); 1 document(s) left out:" in text and "mines_2020_mp_chim_e.pdf: no correction found" in text
    manifest = load_manifest(out)
    exams, problems = resolve_exams(manifest, tmp_path)
    assert problems == [] and {(e.contest, e.subject, e.year) for e in exams} == {("Mines-Ponts", "physics-chemistry", 2024), ("Mines-Ponts", "maths", 2019)}
    assert all(Path(e.sujet).parent == folder and Path(e.corrige).is_file() for e in exams)
    direct, _ = build_from_folder(folder, sites["prepas"], "prepas")
    assert direct == manifest


def test_cli_on_saved_pages_and_bad_input(tmp_path):
    out = tmp_path / "bac.yaml"
    page = PAGES / "sujetdebac_spe-physique-chimie.html"
    assert main(["--site", "sujetdebac", "--html", f"{page}={BAC}/annales/spe-physique-chimie", "--out", str(out)]) == 0
    assert len(load_manifest(out).exams) == 2
    with pytest.raises(SystemExit):
        main(["--site", "nope", "--folder", str(tmp_path), "--out", str(out)])
    bad = tmp_path / "sources.yaml"
    bad.write_text("sites:\n  x: {url: u, level: Licence, contest: c, correction_pattern: c, subject_candidates: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sites\.x\.level"):
        load_exam_sources(bad)
