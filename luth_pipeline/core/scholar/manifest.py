"""The exam manifest: which subject PDFs (sujets) and official corrections (corrigés) to extract.

A manifest lists exams explicitly (a URL or a path for each of the two PDFs) and/or folder
globs whose subject files are paired with their correction by a name rule, the way upstream
paired `…-sujet…` with `…-corrige…` crawled files. Every exam carries its metadata (level
Bac/CPGE, contest, subject, year): the subject labels the exercises, the level sets a default
difficulty.
"""

from __future__ import annotations

import glob
import re
import unicodedata
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from luth_pipeline.core.config.base import ConfigError, StrictModel

Level = Literal["Bac", "CPGE"]
SUBJECTS = ("maths", "physics-chemistry", "computer-science", "engineering-science", "biology", "other")


def canonical_subject(value: str) -> str:
    """Map the many names exams use for a subject onto the report's labels."""
    key = value.strip().lower().replace("_", "-")
    aliases = {
        "mathematiques": "maths", "mathématiques": "maths", "math": "maths", "maths": "maths",
        "physique": "physics-chemistry", "physique-chimie": "physics-chemistry", "chimie": "physics-chemistry",
        "physics": "physics-chemistry", "physics-chemistry": "physics-chemistry",
        "informatique": "computer-science", "nsi": "computer-science", "computer-science": "computer-science",
        "sciences-ingenieur": "engineering-science", "si": "engineering-science",
        "engineering-science": "engineering-science", "engineering": "engineering-science",
        "svt": "biology", "sciences-vie-terre": "biology", "biologie": "biology", "biology": "biology",
    }
    return aliases.get(key, "other")


class ExamMeta(StrictModel):
    level: Level
    contest: str
    subject: str
    year: int = Field(ge=1950, le=2100)

    @field_validator("subject")
    @classmethod
    def _known_subject(cls, value: str) -> str:
        return canonical_subject(value)


class ExamEntry(ExamMeta):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    sujet: str  # http(s) URL or a local path (relative to the repository root)
    corrige: str


class FolderRule(StrictModel):
    """Subject files found by a glob; the correction is the same name with `replace` applied."""

    sujet_glob: str
    replace: tuple[str, str] = ("sujet", "corrige")
    level: Level
    contest: str
    subject: str | None = None  # fixed subject, or …
    subject_from_path: dict[str, str] = {}  # … keyword in the path → subject
    year_pattern: str = r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)"

    @model_validator(mode="after")
    def _subject_source(self) -> "FolderRule":
        if self.subject is None and not self.subject_from_path:
            raise ValueError("give `subject` or `subject_from_path` so each exam has a subject")
        return self


class Manifest(StrictModel):
    exams: list[ExamEntry] = []
    folders: list[FolderRule] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> "Manifest":
        seen: set[str] = set()
        for exam in self.exams:
            if exam.id in seen:
                raise ValueError(f"exam id {exam.id!r} appears twice: ids name exercises, they must be unique")
            seen.add(exam.id)
        return self


class PairingProblem(StrictModel):
    """A subject file found by a folder rule that could not become an exam."""

    path: str
    reason: str


def load_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise ConfigError(f"scholar manifest {path} does not exist: set `scholar.manifest` in the profile")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "<top level>"
            problems.append(f"  - `{key}`: {error['msg']}")
        raise ConfigError(f"{path}: invalid scholar manifest:\n" + "\n".join(problems)) from None


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()  # "général" → "general"
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def resolve_exams(manifest: Manifest, root: Path) -> tuple[list[ExamEntry], list[PairingProblem]]:
    """Explicit exams plus those found by folder rules (sorted, so ids are stable)."""
    exams = list(manifest.exams)
    problems: list[PairingProblem] = []
    for rule in manifest.folders:
        pattern = rule.sujet_glob if Path(rule.sujet_glob).is_absolute() else str(root / rule.sujet_glob)
        for sujet in sorted(glob.glob(pattern, recursive=True)):
            sujet_path = Path(sujet)
            name = sujet_path.name
            old, new = rule.replace
            if old not in name:
                problems.append(PairingProblem(path=sujet, reason=f"name has no {old!r} to turn into {new!r}"))
                continue
            corrige = sujet_path.with_name(name.replace(old, new))
            if not corrige.is_file():
                problems.append(PairingProblem(path=sujet, reason=f"no correction: expected {corrige}"))
                continue
            year = re.search(rule.year_pattern, str(sujet_path))
            if year is None:
                problems.append(PairingProblem(path=sujet, reason="no year in the path (upstream dropped these too)"))
                continue
            subject = rule.subject
            lowered = str(sujet_path).lower()
            for keyword, label in rule.subject_from_path.items():
                if subject is None and keyword.lower() in lowered:
                    subject = label
            exam_id = slug(f"{rule.level}-{rule.contest}-{sujet_path.stem.replace(old, '')}")
            exams.append(ExamEntry(
                id=exam_id, level=rule.level, contest=rule.contest, subject=subject or "other",
                year=int(year.group(1)), sujet=sujet, corrige=str(corrige),
            ))
    return exams, problems
