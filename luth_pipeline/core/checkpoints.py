"""Names and locations of every checkpoint the graph produces or starts from.

A checkpoint key names one evaluable model: `<base>.base`, `<base>.finetuned`,
`<base>.merged.<recipe>`. It is the partition key of `benchmark_scores` and what `luth chat`
accepts, so all stages agree on it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from luth_pipeline.core.config import Profile
from luth_pipeline.core.models import resolve_base_model
from luth_pipeline.core.storage import DatasetStore


@dataclass(frozen=True)
class CheckpointKey:
    base_model: str
    kind: str  # "base" | "finetuned" | "merged"
    recipe: str | None = None

    def __str__(self) -> str:
        return ".".join(p for p in (self.base_model, self.kind, self.recipe) if p)

    @classmethod
    def parse(cls, key: str) -> "CheckpointKey":
        # Base model names carry dots themselves (`qwen3-0.6b`): read the kind from the end.
        base, _, kind = key.rpartition(".")
        if base and kind in {"base", "finetuned"}:
            return cls(base, kind)
        base, _, recipe = key.partition(".merged.")
        if base and recipe and "." not in recipe:
            return cls(base, "merged", recipe)
        raise ValueError(
            f"{key!r} is not a checkpoint key: expected `<base>.base`, `<base>.finetuned` or `<base>.merged.<recipe>`"
        )


def profile_checkpoint_keys(profile: Profile) -> list[str]:
    """Every checkpoint key this profile can produce: each base model's base, fine-tuned and merges."""
    from luth_pipeline.core.merge.recipes import load_recipes

    recipes = [r.name for r in load_recipes(profile.merge)]
    return [str(key) for base in sorted(profile.base_models) for key in (
        CheckpointKey(base, "base"), CheckpointKey(base, "finetuned"), *(CheckpointKey(base, "merged", r) for r in recipes))]


def checkpoint_location(key: CheckpointKey | str, profile: Profile, store: DatasetStore) -> str:
    """A path (or hub id for a base model) that `from_pretrained` opens for this checkpoint."""
    key = CheckpointKey.parse(key) if isinstance(key, str) else key
    if key.base_model not in profile.base_models:
        raise KeyError(f"unknown base model {key.base_model!r}; the profile defines {sorted(profile.base_models)}")
    if key.kind == "base":
        return resolve_base_model(key.base_model, profile.base_models[key.base_model], profile.work_path)
    if key.kind == "finetuned":
        path = store.fetch_dir("finetuned_checkpoint", key.base_model)
        hint = f"materialize finetuned_checkpoint partition {key.base_model!r}"
    else:
        path = store.fetch_dir("merged_checkpoint", {"base_model": key.base_model, "recipe": key.recipe})
        hint = f"materialize merged_checkpoint partition {key.base_model}|{key.recipe}"
    if not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"checkpoint {key} does not exist at {path}: {hint} first")
    return str(path)
