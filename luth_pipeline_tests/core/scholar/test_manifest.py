"""Manifest: explicit exams, folder pairing by name rule, clear errors."""

import pytest

from luth_pipeline.core.config import ConfigError
from luth_pipeline.core.scholar.manifest import canonical_subject, load_manifest, resolve_exams


def test_folder_rules_pair_subjects_with_corrections(tmp_path):
    folder = tmp_path / "annales" / "2023"
    folder.mkdir(parents=True)
    for name in ("svt-metropole-sujet.pdf", "svt-metropole-corrige.pdf", "mathematiques-asie-sujet.pdf",
                 "mathematiques-asie-corrige.pdf", "physique-sujet.pdf"):
        (folder / name).write_bytes(b"%PDF-1.7")
    (tmp_path / "m.yaml").write_text(
        "folders:\n  - sujet_glob: annales/**/*-sujet.pdf\n    replace: [-sujet, -corrige]\n    level: Bac\n"
        "    contest: Bac général\n    subject_from_path: {svt: svt, mathematiques: maths}\n")
    exams, problems = resolve_exams(load_manifest(tmp_path / "m.yaml"), tmp_path)
    assert [(e.id, e.subject, e.year) for e in exams] == [
        ("bac-bac-general-mathematiques-asie", "maths", 2023), ("bac-bac-general-svt-metropole", "biology", 2023)]
    assert exams[1].corrige.endswith("svt-metropole-corrige.pdf")
    assert len(problems) == 1 and "no correction" in problems[0].reason and "physique" in problems[0].path


def test_bad_manifest_names_the_key(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("exams:\n  - {id: a, level: Licence, contest: x, subject: maths, year: 2020, sujet: a, corrige: b, pages: 3}\n")
    with pytest.raises(ConfigError) as excinfo:
        load_manifest(path)
    assert "exams.0.level" in str(excinfo.value) and "exams.0.pages" in str(excinfo.value) and str(path) in str(excinfo.value)
    path.write_text("exams:\n" + "  - {id: a, level: Bac, contest: x, subject: maths, year: 2020, sujet: a, corrige: b}\n" * 2)
    with pytest.raises(ConfigError, match="appears twice"):
        load_manifest(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_manifest(tmp_path / "nope.yaml")


def test_subjects_map_to_the_report_labels():
    assert [canonical_subject(s) for s in ("Mathématiques", "svt", "NSI", "physique-chimie", "sciences-ingenieur", "ses")] == [
        "maths", "biology", "computer-science", "physics-chemistry", "engineering-science", "other"]
