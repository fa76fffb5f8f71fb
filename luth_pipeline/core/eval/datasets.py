"""The eval task catalogue (configs/eval/tasks.yaml) and the data behind each task.

The catalogue is also the SFT stage's list of eval sets to decontaminate against
(`core.sft.decontamination.catalogue_eval_sets`): each task's `text_fields`, at `dataset_location`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError

from luth_pipeline.core.config.base import ConfigError, StrictModel
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.eval.config import EvalConfig

TaskKind = Literal[
    "ifeval", "gpqa", "mmlu_letters", "mmlu_harness", "math", "kholle", "arc", "hellaswag", "hellaswag_harness",
    "boolq",
]


class EvalTaskSpec(StrictModel):
    language: Literal["fr", "en"]
    kind: TaskKind
    hf_repo: str
    hf_subset: str = "default"
    hf_revision: str | None = None
    split: str
    fixture: str | None = None
    # Fields whose text decontamination compares against (dotted paths reach nested fields).
    text_fields: list[str]
    question_field: str | None = None  # gpqa: `problem` (French) or `Question` (English)
    gold_field: str | None = None  # math: the field holding the reference (a solution with \boxed{} or the answer)
    math_template: Literal["math", "aime"] = "math"  # upstream words its AIME-fr prompt differently
    generation_size: int
    reference: str | None = None


def resolve(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


@cache
def _load_catalogue(path: Path) -> dict[str, EvalTaskSpec]:
    if not path.is_file():
        raise ConfigError(f"eval task catalogue {path} does not exist: set `eval.tasks_file` in the profile")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs = {}
    for name, values in raw.items():
        try:
            specs[name] = EvalTaskSpec.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(f"{path}: task `{name}` is invalid: {exc}") from None
    return specs


def task_catalogue(config: EvalConfig) -> dict[str, EvalTaskSpec]:
    return _load_catalogue(resolve(config.tasks_file))


def read_task_list(path: str | Path) -> list[str]:
    """A LightEval task list file, one task per line, `#` comments: `task|num_fewshot`, or upstream's
    LightEval 0.10 form `suite|task|num_fewshot|truncate_fewshots` (e.g. `leaderboard|mmlu|0|0`)."""
    path = resolve(path)
    if not path.is_file():
        raise ConfigError(f"eval suite file {path} does not exist: check `eval.suites` in the profile")
    lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line]


def _fields(entry: str) -> tuple[str, int]:
    parts = entry.split("|")
    if len(parts) == 1:
        return parts[0], 0
    if len(parts) == 2:  # task|fewshot
        return parts[0], int(parts[1])
    if len(parts) in (3, 4):  # suite|task|fewshot[|truncate]: LightEval >= 0.11 ignores the suite
        return parts[1], int(parts[2])
    raise ConfigError(f"eval task entry {entry!r}: expected `task|fewshot` or `suite|task|fewshot|truncate`")


def task_name(entry: str) -> str:
    """`gpqa_fr:diamond|0` and `community|gpqa_fr:diamond|0|0` -> `gpqa_fr:diamond`."""
    return _fields(entry)[0]


def lighteval_task_spec(entry: str) -> str:
    """The entry in LightEval 0.13's syntax, `task|fewshot` (its 4-field 0.10 form no longer parses;
    the dropped `truncate_fewshots` flag only mattered with few-shot examples, and every suite is 0-shot)."""
    name, fewshot = _fields(entry)
    return f"{name}|{fewshot}"


def suite_tasks(config: EvalConfig) -> dict[str, list[str]]:
    """Language -> the task entries of that suite, each checked against the catalogue."""
    catalogue = task_catalogue(config)
    suites = {}
    for language, path in config.suites.items():
        entries = read_task_list(path)
        for entry in entries:
            if task_name(entry) not in catalogue:
                raise ConfigError(
                    f"{resolve(path)}: task {task_name(entry)!r} is not in {resolve(config.tasks_file)} "
                    f"(known: {', '.join(sorted(catalogue))})"
                )
        suites[language] = entries
    return suites


def dataset_location(spec: EvalTaskSpec, config: EvalConfig) -> tuple[str, str | None, str | None]:
    """(path, subset, revision) for `datasets.load_dataset`: the hub id, or the fixture folder."""
    if config.data_source == "fixtures":
        if spec.fixture is None:
            raise ConfigError(f"eval task on {spec.hf_repo} has no `fixture` folder but eval.data_source is `fixtures`")
        folder = resolve(spec.fixture)
        if not folder.is_dir():
            raise ConfigError(f"fixture folder {folder} for {spec.hf_repo} does not exist")
        return str(folder), None, None
    return spec.hf_repo, spec.hf_subset, spec.hf_revision


def load_task_split(spec: EvalTaskSpec, config: EvalConfig):
    import datasets

    path, subset, revision = dataset_location(spec, config)
    return datasets.load_dataset(path, name=subset, revision=revision, split=spec.split)
