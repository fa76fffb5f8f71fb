"""N-gram decontamination of training conversations against evaluation sets.

A training row is contaminated when one of its messages shares a run of `ngram` consecutive
normalized words (default 13, the GPT-3 / Tulu 3 convention) with any benchmark text
(question, answer, choice). Benchmark texts shorter than `ngram` words but at least
`min_words` long are matched whole, so short questions are caught too. Normalization (lower
case, NFKC, accents and punctuation removed) makes light reformatting — case, spacing, quotes,
LaTeX delimiters, missing accents — no escape.

The index maps words to integer ids (only words that occur in some benchmark); a training
message is scanned only along runs of such words, which skips most of the text cheaply.
"""

from __future__ import annotations

import glob
import multiprocessing
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from luth_pipeline.core.eval.config import EvalConfig
from luth_pipeline.core.sft.config import DecontaminationConfig, EvalSetSpec

_COMBINING = re.compile(r"[\u0300-\u036f]")
_WORD = re.compile(r"\w+")


def normalize_words(text: str) -> list[str]:
    """Lower-cased, accent-free word tokens (punctuation and underscores are separators)."""
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.lower()))
    return [w for w in _WORD.findall(text.replace("_", " "))]


@dataclass(frozen=True)
class EvalText:
    eval_set: str
    item: str  # row index (or id) inside the eval set, for the reject table
    text: str


@dataclass
class Match:
    eval_set: str
    item: str
    ngram: str


@dataclass
class EvalIndex:
    ngram: int
    min_words: int
    vocab: dict[str, int] = field(default_factory=dict)
    # n-gram length → {tuple of word ids: [(eval set, item) — the first item of each set holding it]}
    grams: dict[int, dict[tuple[int, ...], list[tuple[str, str]]]] = field(default_factory=dict)
    texts_per_set: dict[str, int] = field(default_factory=dict)
    grams_per_set: dict[str, int] = field(default_factory=dict)

    def add(self, entry: EvalText) -> None:
        words = normalize_words(entry.text)
        self.texts_per_set[entry.eval_set] = self.texts_per_set.get(entry.eval_set, 0) + 1
        self.grams_per_set.setdefault(entry.eval_set, 0)
        if len(words) < self.min_words:
            return
        ids = tuple(self.vocab.setdefault(w, len(self.vocab)) for w in words)
        size = min(self.ngram, len(ids))
        table = self.grams.setdefault(size, {})
        for start in range(len(ids) - size + 1):
            owners = table.setdefault(ids[start : start + size], [])
            if all(owner[0] != entry.eval_set for owner in owners):
                owners.append((entry.eval_set, entry.item))
                self.grams_per_set[entry.eval_set] += 1

    def find(self, text: str) -> list[Match]:
        """Every eval set this text overlaps (one match each, the first found)."""
        vocab = self.vocab
        ids = [vocab.get(w, -1) for w in normalize_words(text)]
        found: dict[str, Match] = {}
        sizes = sorted(self.grams)
        run_start = 0
        for end in range(len(ids) + 1):
            if end < len(ids) and ids[end] >= 0:
                continue
            run = ids[run_start:end]
            run_start = end + 1
            for size in sizes:
                if size > len(run):
                    break
                table = self.grams[size]
                for start in range(len(run) - size + 1):
                    for eval_set, item in table.get(tuple(run[start : start + size]), ()):
                        if eval_set not in found:
                            words = self._words(run[start : start + size])
                            found[eval_set] = Match(eval_set=eval_set, item=item, ngram=" ".join(words))
        return list(found.values())

    def _words(self, ids: Sequence[int]) -> list[str]:
        if not hasattr(self, "_inverse"):
            self._inverse = {i: w for w, i in self.vocab.items()}
        return [self._inverse[i] for i in ids]


def _field_strings(value, path: list[str]) -> Iterable[str]:
    if path:
        if isinstance(value, dict):
            yield from _field_strings(value.get(path[0]), path[1:])
        elif isinstance(value, list):
            for item in value:
                yield from _field_strings(item, path)
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _field_strings(item, [])
    elif isinstance(value, dict):
        for item in value.values():
            yield from _field_strings(item, [])


_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def load_eval_texts(spec: EvalSetSpec, resolve_path: Callable[[str], Path]) -> list[EvalText]:
    """The benchmark strings of one eval set, read with `datasets.load_dataset`."""
    import datasets

    if spec.hf_id:
        rows = datasets.load_dataset(spec.hf_id, spec.subset, revision=spec.revision, split=spec.split)
    else:
        files = sorted({f for pattern in spec.data_files for f in glob.glob(str(resolve_path(pattern)))})
        if not files:
            raise FileNotFoundError(
                f"sft.decontamination.eval_sets[{spec.name}]: no file matches {spec.data_files}; "
                "fix the path or materialize/add the eval fixture"
            )
        suffixes = {Path(f).suffix for f in files}
        if len(suffixes) != 1 or next(iter(suffixes)) not in _BUILDERS:
            raise ValueError(f"sft.decontamination.eval_sets[{spec.name}]: files must share one of {sorted(_BUILDERS)}, got {sorted(suffixes)}")
        rows = datasets.load_dataset(_BUILDERS[suffixes.pop()], data_files=files, split="train")
    missing = [f for f in spec.text_fields if f.split(".")[0] not in rows.column_names]
    if missing:
        raise KeyError(
            f"sft.decontamination.eval_sets[{spec.name}].text_fields {missing} are not columns of the eval set "
            f"(columns: {rows.column_names})"
        )
    texts: list[EvalText] = []
    for index, row in enumerate(rows):
        item = str(row.get("id", index))
        for name in spec.text_fields:
            for text in _field_strings(row, name.split(".")):
                texts.append(EvalText(spec.name, item, text))
    return texts


def catalogue_eval_sets(eval_config: EvalConfig) -> list[EvalSetSpec]:
    """The eval stage's catalogue as eval sets, each located where the eval stage loads it."""
    from luth_pipeline.core.eval.datasets import dataset_location, task_catalogue

    sets = []
    for name, task in sorted(task_catalogue(eval_config).items()):
        path, subset, revision = dataset_location(task, eval_config)
        if eval_config.data_source == "fixtures":
            files = sorted(p for p in Path(path).rglob("*") if p.suffix in _BUILDERS)
            sets.append(EvalSetSpec(name=name, data_files=[str(f) for f in files], text_fields=task.text_fields))
        else:
            sets.append(EvalSetSpec(name=name, hf_id=path, subset=subset, revision=revision, split=task.split,
                                    text_fields=task.text_fields))
    return sets


def decontamination_sets(config: DecontaminationConfig, eval_config: EvalConfig) -> list[EvalSetSpec]:
    """Every eval set luth_sft must not overlap: the eval catalogue's (when on) + the extra ones."""
    sets = (catalogue_eval_sets(eval_config) if config.eval_catalogue else []) + list(config.eval_sets)
    names = [s.name for s in sets]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"sft.decontamination.eval_sets repeats eval set(s) of the eval catalogue: {duplicated}; remove them")
    return sets


def build_index(sets: Sequence[EvalSetSpec], config: DecontaminationConfig, resolve_path: Callable[[str], Path]) -> EvalIndex:
    index = EvalIndex(ngram=config.ngram, min_words=config.min_words)
    for spec in sets:
        for entry in load_eval_texts(spec, resolve_path):
            index.add(entry)
    return index


# The index is shared with worker processes by fork (set before the pool starts).
_WORKER_INDEX: EvalIndex | None = None


def _scan_one(contents: Sequence[str]) -> list[Match]:
    found: dict[str, Match] = {}
    for text in contents:
        for match in _WORKER_INDEX.find(text):
            found.setdefault(match.eval_set, match)
    return list(found.values())


def scan_conversations(index: EvalIndex, conversations: Sequence[Sequence[str]], num_proc: int = 1) -> list[list[Match]]:
    """Matches per conversation (each a list of message contents), in input order."""
    global _WORKER_INDEX
    _WORKER_INDEX = index
    if not index.grams:
        return [[] for _ in conversations]
    if num_proc <= 1 or len(conversations) < 20_000 or "fork" not in multiprocessing.get_all_start_methods():
        return [_scan_one(c) for c in conversations]
    with multiprocessing.get_context("fork").Pool(num_proc) as pool:
        return pool.map(_scan_one, conversations, chunksize=2_000)
