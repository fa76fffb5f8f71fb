"""Build a Scholar manifest from exam-source index pages (HTML) or a local folder of PDFs.

Upstream (Luth `src/data/scholar-fr/scripts/crawler/`) crawled sujetdebac.fr (Bac) and
prepas.org (CPGE), then paired each correction with its subject by file-name rules:
`corrige` → `sujet`, `-officiel` dropped, `corrige` → `sujet-officiel` (bac/clean_pdf_url.py,
make_pdf_pairs.py), and `_ca.pdf` ↔ `_e|_d|_ea|_da.pdf` (cpge/clean_pdf_prepa.py), skipping
language exams, duplicate downloads and names without a year. Here those rules are data
(`configs/scholar/exam_sources.yaml`, one entry per site) applied to the links of index pages
or to the files of a folder; the exam metadata (year, subject, contest) comes from the file
name and the link text. Every document that does not become an exam is reported with why.

    python -m luth_pipeline.core.scholar.manifest_builder --site sujetdebac --out manifest.yaml
    python -m luth_pipeline.core.scholar.manifest_builder --site sujetdebac --html saved.html=https://… --out …
    python -m luth_pipeline.core.scholar.manifest_builder --site prepas --folder /data/annales/ccinp --out …
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

import yaml
from pydantic import Field, ValidationError, field_validator

from luth_pipeline.core.config.base import ConfigError, StrictModel
from luth_pipeline.core.scholar.manifest import ExamEntry, Level, Manifest, PairingProblem, slug

DEFAULT_SOURCES = "configs/scholar/exam_sources.yaml"
YEAR = r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)"


class ExamSite(StrictModel):
    """One exam source: where its index pages are and how its files pair up."""

    url: str  # the site (what upstream's crawler started from)
    index_pages: list[str] = []  # pages listing subject and correction PDFs
    # Follow same-site links this many levels below the index pages (upstream's crawler: the whole
    # site from its root), reading at most `max_pages` pages.
    crawl_depth: int = Field(default=0, ge=0)
    max_pages: int = Field(default=500, ge=1)
    level: Level
    contest: str
    contest_from_name: dict[str, str] = {}  # keyword in the file name/link text → contest
    link_pattern: str = r"\.pdf(?:$|[?#])"  # which hrefs are documents (regex on the absolute URL)
    correction_pattern: str  # a file name matching this is a correction
    # Tried in order on a correction's file name (regex, replacement) until a subject of the page has that name.
    subject_candidates: list[tuple[str, str]]
    exclude: list[str] = []  # file names matching one of these regexes are skipped (and reported)
    subject_from_name: dict[str, str] = {}  # keyword → subject (first found wins; else `subject`)
    subject: str = "other"
    year_pattern: str = YEAR

    @field_validator("correction_pattern", "link_pattern", "year_pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        re.compile(value)
        return value


class ExamSources(StrictModel):
    sites: dict[str, ExamSite] = Field(min_length=1)


@dataclass(frozen=True)
class Document:
    """A PDF found on an index page or in a folder."""

    name: str  # file name the pairing rules read, e.g. spe-mathematiques-2024-metropole-1-corrige.pdf
    location: str  # absolute URL or local path
    label: str = ""  # link text (metadata: "Corrigé Bac 2024 Mathématiques")


def load_exam_sources(path: Path) -> ExamSources:
    if not path.is_file():
        raise ConfigError(f"exam sources file {path} does not exist (see {DEFAULT_SOURCES})")
    try:
        return ExamSources.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = [f"  - `{'.'.join(str(p) for p in e['loc'])}`: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid exam sources:\n" + "\n".join(problems)) from None


def _file_name(href: str, anchor) -> str:
    """The name a download would get: `download` attribute, URL path, a `.pdf` query value, or the
    link text (prepas.org-style `index.php?…&file=doc` links show the file name as text)."""
    if anchor.get("download"):
        return str(anchor["download"]).strip()
    parts = urlsplit(href)
    last = unquote(PurePosixPath(parts.path).name)
    if last.lower().endswith(".pdf"):
        return last
    for _, value in parse_qsl(parts.query):
        if value.lower().endswith(".pdf"):
            return PurePosixPath(unquote(value)).name
    text = anchor.get_text(" ", strip=True)
    return text if text.lower().endswith(".pdf") else slug(text) + ".pdf"


def links_from_html(html: str, base_url: str, site: ExamSite) -> list[Document]:
    """The document links of one index page (absolute URLs, fragments dropped, each once)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    found: dict[str, Document] = {}
    for anchor in soup.find_all("a", href=True):
        url = urljoin(base_url, str(anchor["href"])).split("#", 1)[0]
        if re.search(site.link_pattern, url, re.IGNORECASE) and url not in found:
            label = " ".join(anchor.get_text(" ", strip=True).split()) or str(anchor.get("title", ""))
            found[url] = Document(_file_name(url, anchor), url, label)
    return list(found.values())


def documents_in_folder(folder: Path) -> list[Document]:
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder of PDFs")
    return [Document(path.name, str(path)) for path in sorted(folder.rglob("*")) if path.suffix.lower() == ".pdf"]


def _keyword(text: str, table: dict[str, str]) -> str | None:
    """The value of the first key that starts a word of `text` (`si` matches `…_si_…`, not `physique`)."""
    lowered = slug(text)
    return next((value for key, value in table.items() if re.search(rf"(?:^|-){re.escape(slug(key))}", lowered)), None)


def pair_documents(documents: list[Document], site: ExamSite, site_name: str) -> tuple[list[ExamEntry], list[PairingProblem]]:
    """Subject/correction pairs by the site's name rules, with metadata from names and link texts."""
    problems: list[PairingProblem] = []
    kept: dict[str, Document] = {}
    for doc in documents:
        rule = next((p for p in site.exclude if re.search(p, doc.name, re.IGNORECASE)), None)
        if rule:
            problems.append(PairingProblem(path=doc.location, reason=f"excluded by rule {rule!r}"))
        elif doc.name in kept:
            problems.append(PairingProblem(path=doc.location, reason=f"same file name as {kept[doc.name].location}"))
        else:
            kept[doc.name] = doc
    corrections = [d for d in kept.values() if re.search(site.correction_pattern, d.name, re.IGNORECASE)]
    subjects = {d.name: d for d in kept.values() if d not in corrections}
    exams: list[ExamEntry] = []
    paired: set[str] = set()
    ids: set[str] = set()
    for correction in corrections:
        candidates = [re.sub(pattern, repl, correction.name, count=1, flags=re.IGNORECASE) for pattern, repl in site.subject_candidates]
        match = next((subjects[c] for c in candidates if c != correction.name and c in subjects), None)
        if match is None:
            problems.append(PairingProblem(path=correction.location, reason=f"no subject on the page for this correction (tried {candidates})"))
            continue
        if match.name in paired:
            problems.append(PairingProblem(path=correction.location, reason=f"subject {match.name} already paired with another correction"))
            continue
        paired.add(match.name)  # reported below if it cannot become an exam, never as "no correction"
        text = f"{match.name} {match.label} {correction.label}"
        year = re.search(site.year_pattern, match.name) or re.search(site.year_pattern, f"{match.label} {correction.label}")
        if year is None:
            problems.append(PairingProblem(path=match.location, reason="no year in the file name or link text (upstream dropped these too)"))
            continue
        stem = re.sub(r"\.pdf$", "", match.name, flags=re.IGNORECASE)
        exam_id = base = slug(f"{site.level}-{site_name}-{stem}")
        suffix = 2
        while exam_id in ids:
            exam_id, suffix = f"{base}-{suffix}", suffix + 1
        ids.add(exam_id)
        exams.append(ExamEntry(
            id=exam_id, level=site.level, contest=_keyword(text, site.contest_from_name) or site.contest,
            subject=_keyword(text, site.subject_from_name) or site.subject, year=int(year.group(1)),
            sujet=match.location, corrige=correction.location,
        ))
    for name, doc in subjects.items():
        if name not in paired:
            problems.append(PairingProblem(path=doc.location, reason="no correction found for this subject"))
    return exams, problems


def fetch_page(url: str, timeout_s: float = 30.0, user_agent: str = "luth-pipeline-scholar/0.1") -> str:
    import httpx

    response = httpx.get(url, timeout=timeout_s, follow_redirects=True, headers={"User-Agent": user_agent})
    response.raise_for_status()
    return response.text


def crawl(site: ExamSite, fetch, log=print) -> dict[str, str]:
    """Index pages and the same-site pages below them (to `crawl_depth`), URL → HTML.

    `fetch(url) -> html` is injected (HTTP in a run, saved pages in tests); a page that fails to
    load is logged and skipped, the others go on.
    """
    from bs4 import BeautifulSoup

    root = urlsplit(site.url).netloc
    pages: dict[str, str] = {}
    frontier = list(dict.fromkeys(site.index_pages))
    for depth in range(site.crawl_depth + 1):
        following: list[str] = []
        for url in frontier:
            if url in pages or len(pages) >= site.max_pages:
                continue
            try:
                pages[url] = fetch(url)
            except Exception as exc:  # noqa: BLE001 - one unreachable page must not stop the crawl
                log(f"skipped {url}: {exc}")
                continue
            if depth < site.crawl_depth:
                for anchor in BeautifulSoup(pages[url], "html.parser").find_all("a", href=True):
                    link = urljoin(url, str(anchor["href"])).split("#", 1)[0]
                    if urlsplit(link).netloc == root and not re.search(site.link_pattern, link, re.IGNORECASE) \
                            and not re.search(r"\.(mp3|mp4|avi|jpe?g|png|zip)$", link, re.IGNORECASE):
                        following.append(link)
        frontier = list(dict.fromkeys(following))
    return pages


def build_from_pages(pages: dict[str, str], site: ExamSite, site_name: str) -> tuple[Manifest, list[PairingProblem]]:
    """`pages`: index page URL → its HTML. Links of all pages are paired together (a subject and
    its correction may sit on two pages)."""
    documents: dict[str, Document] = {}
    for url, html in pages.items():
        for doc in links_from_html(html, url, site):
            documents.setdefault(doc.location, doc)
    exams, problems = pair_documents(list(documents.values()), site, site_name)
    return Manifest(exams=exams), problems


def build_from_folder(folder: Path, site: ExamSite, site_name: str) -> tuple[Manifest, list[PairingProblem]]:
    exams, problems = pair_documents(documents_in_folder(folder), site, site_name)
    return Manifest(exams=exams), problems


def write_manifest(manifest: Manifest, problems: list[PairingProblem], path: Path, origin: str) -> None:
    """The manifest `scholar.manifest` reads, with what was left out as comments (atomic write)."""
    lines = [f"# Built by luth_pipeline.core.scholar.manifest_builder from {origin}",
             f"# {len(manifest.exams)} exam(s); {len(problems)} document(s) left out:"]
    lines += [f"#   {p.path}: {p.reason}" for p in problems]
    body = yaml.safe_dump(manifest.model_dump(mode="json", exclude={"folders"}), sort_keys=False, allow_unicode=True)
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("\n".join(lines) + "\n" + body, encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    from luth_pipeline.core.config.profile import REPO_ROOT

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default=DEFAULT_SOURCES, help="exam sources YAML (sites and their pairing rules)")
    parser.add_argument("--site", required=True, help="a key of `sites` in the sources file")
    parser.add_argument("--html", action="append", default=[], metavar="FILE=URL", help="a saved index page and the URL it was saved from")
    parser.add_argument("--folder", type=Path, help="a folder of downloaded PDFs instead of index pages")
    parser.add_argument("--out", type=Path, required=True, help="manifest to write (YAML)")
    args = parser.parse_args(argv)
    sources_path = Path(args.sources) if Path(args.sources).is_absolute() else REPO_ROOT / args.sources
    sources = load_exam_sources(sources_path)
    if args.site not in sources.sites:
        parser.error(f"--site {args.site!r} is not in {sources_path} (sites: {', '.join(sources.sites)})")
    site = sources.sites[args.site]
    if args.folder:
        manifest, problems = build_from_folder(args.folder, site, args.site)
        origin = str(args.folder)
    else:
        pages = {}
        for item in args.html:
            file, _, url = item.partition("=")
            pages[url or Path(file).resolve().as_uri()] = Path(file).read_text(encoding="utf-8")
        if not args.html:
            pages.update(crawl(site, fetch_page))
        if not pages:
            parser.error(f"site {args.site!r} lists no index_pages: give --html FILE=URL or --folder")
        manifest, problems = build_from_pages(pages, site, args.site)
        origin = ", ".join(pages)
    write_manifest(manifest, problems, args.out, origin)
    print(f"{args.out}: {len(manifest.exams)} exam(s), {len(problems)} document(s) left out (listed at the top of the file)")
    return 0 if manifest.exams else 1


if __name__ == "__main__":
    sys.exit(main())
