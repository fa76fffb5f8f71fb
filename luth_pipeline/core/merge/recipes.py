"""Merge recipes: a catalogue of sweeps and named recipes, rendered into mergekit YAML.

A recipe is a template name plus parameters (configs/merge/recipes.yaml). Rendering fills the
template with the two checkpoint paths, then mergekit's own `MergeConfiguration` parses the
result, so whatever mergekit would reject is rejected here, before any weight is read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import ValidationError, field_validator

from luth_pipeline.core.config.base import ConfigError, StrictModel
from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.merge.config import MergeConfig

# A recipe name ends up inside a dynamic partition key `<base>.merged.<recipe>` and a
# multi-partition key `<base>|<recipe>`, so dots, pipes and commas are out.
RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class RecipeError(ConfigError):
    """A merge recipe is invalid; the message names the recipe and the problem."""


class MergeRecipe(StrictModel):
    name: str
    template: str
    params: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        if not RECIPE_NAME.match(name):
            raise ValueError(
                f"recipe name {name!r} must use only letters, digits, '-' and '_' "
                "(it becomes a partition key: no dots, pipes or commas)"
            )
        return name


class RecipeSweep(StrictModel):
    """One recipe per value of `param`, named `<sweep>-<value×100 as 3 digits>`."""

    template: str
    param: str
    values: list[float]
    params: dict[str, Any] = {}

    def expand(self, sweep_name: str) -> list[MergeRecipe]:
        return [
            MergeRecipe(
                name=f"{sweep_name}-{round(value * 100):03d}",
                template=self.template,
                params={**self.params, self.param: value},
            )
            for value in self.values
        ]


class RecipeCatalogue(StrictModel):
    sweeps: dict[str, RecipeSweep] = {}
    recipes: dict[str, dict[str, Any]] = {}


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def load_catalogue(config: MergeConfig) -> dict[str, MergeRecipe]:
    """Every recipe the catalogue file defines, sweeps expanded, by name."""
    path = _resolve(config.recipe_file)
    if not path.is_file():
        raise RecipeError(f"merge recipe file {path} does not exist: set `merge.recipe_file` in the profile")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        catalogue = RecipeCatalogue.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise RecipeError(f"{path}: invalid recipe catalogue: {exc}") from None
    found: dict[str, MergeRecipe] = {}
    candidates = [r for name, sweep in catalogue.sweeps.items() for r in sweep.expand(name)]
    for name, body in catalogue.recipes.items():
        try:
            candidates.append(MergeRecipe(name=name, **body))
        except (TypeError, ValidationError) as exc:
            raise RecipeError(f"{path}: recipe {name!r}: {exc}") from None
    for recipe in candidates:
        if recipe.name in found:
            raise RecipeError(f"{path}: recipe name {recipe.name!r} is defined twice (a sweep and a recipe?)")
        found[recipe.name] = recipe
    return found


def load_recipes(config: MergeConfig) -> list[MergeRecipe]:
    """The recipes this profile runs (`merge.recipes`, or the whole catalogue when empty)."""
    catalogue = load_catalogue(config)
    if not config.recipes:
        return list(catalogue.values())
    unknown = [name for name in config.recipes if name not in catalogue]
    if unknown:
        raise RecipeError(
            f"merge.recipes names {unknown} that {config.recipe_file} does not define; "
            f"known recipes: {sorted(catalogue)}"
        )
    return [catalogue[name] for name in config.recipes]


def template_path(config: MergeConfig, template: str) -> Path:
    return _resolve(config.template_dir) / f"{template}.yaml.j2"


def render_recipe(
    recipe: MergeRecipe, config: MergeConfig, *, base: str, finetuned: str, num_layers: int
) -> str:
    """The mergekit YAML of `recipe` for this pair of checkpoints."""
    path = template_path(config, recipe.template)
    if not path.is_file():
        known = sorted(p.name.removesuffix(".yaml.j2") for p in path.parent.glob("*.yaml.j2"))
        raise RecipeError(f"recipe {recipe.name!r}: template {recipe.template!r} not found at {path}; templates: {known}")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["tojson"] = json.dumps
    context = {"dtype": config.dtype, **recipe.params, "base": base, "finetuned": finetuned, "num_layers": num_layers}
    try:
        return env.from_string(path.read_text(encoding="utf-8")).render(**context)
    except jinja2.UndefinedError as exc:
        raise RecipeError(
            f"recipe {recipe.name!r}: template {path.name} needs a parameter the recipe does not set ({exc.message}); "
            f"add it under `params:` in {config.recipe_file}"
        ) from None
