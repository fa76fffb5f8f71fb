import pytest
from mergekit.config import MergeConfiguration
import yaml

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.merge.config import MergeConfig
from luth_pipeline.core.merge.recipes import MergeRecipe, RecipeError, load_catalogue, load_recipes, render_recipe


def test_catalogue_expands_sweeps_into_safe_names():
    catalogue = load_catalogue(MergeConfig())
    assert [n for n in catalogue if n.startswith("linear-")] == [f"linear-0{v}0" for v in range(3, 8)]
    assert [n for n in catalogue if n.startswith("slerp-0")] == [f"slerp-0{v}0" for v in range(3, 8)]
    assert catalogue["linear-070"].params["finetuned_weight"] == 0.7
    assert catalogue["slerp-030"].params["t"] == 0.3
    assert catalogue["slerp-upstream"].params["self_attn_t"] == [0, 0.5, 0.3, 0.7, 1]
    for name in catalogue:
        assert not set(name) & set(".|,"), name


@pytest.mark.parametrize("profile", ["local", "gpu", "prod"])
def test_every_profile_recipe_renders_to_a_valid_mergekit_config(profile):
    config = load_profile(profile).merge
    recipes = load_recipes(config)
    assert recipes
    for recipe in recipes:
        text = render_recipe(recipe, config, base="/ckpt/base", finetuned="/ckpt/ft", num_layers=28)
        parsed = MergeConfiguration.model_validate(yaml.safe_load(text))
        assert parsed.merge_method in {"linear", "slerp"}
        assert {str(m.model.path) for m in parsed.referenced_models()} == {"/ckpt/base", "/ckpt/ft"}
        assert str(parsed.base_model.model.path) == "/ckpt/base"


def test_upstream_slerp_recipe_renders_upstreams_schedule():
    config = MergeConfig()
    text = render_recipe(load_catalogue(config)["slerp-upstream"], config, base="b", finetuned="f", num_layers=28)
    parsed = yaml.safe_load(text)
    assert parsed["slices"][0]["sources"][0]["layer_range"] == [0, 28]
    assert parsed["parameters"]["t"] == [
        {"filter": "self_attn", "value": [0, 0.5, 0.3, 0.7, 1]},
        {"filter": "mlp", "value": [1, 0.5, 0.7, 0.3, 0]},
        {"value": 0.5},
    ]


def test_linear_weights_are_complementary():
    config = MergeConfig()
    parsed = yaml.safe_load(render_recipe(load_catalogue(config)["linear-030"], config, base="b", finetuned="f", num_layers=2))
    assert [m["parameters"]["weight"] for m in parsed["models"]] == [0.3, 0.7]
    assert parsed["parameters"] == {"normalize": False}


@pytest.mark.parametrize("name", ["slerp.0.5", "a|b", "x,y", "", "-lead"])
def test_recipe_names_must_be_partition_safe(name):
    with pytest.raises(ValueError, match="letters, digits"):
        MergeRecipe(name=name, template="slerp")


def test_profile_naming_an_unknown_recipe_fails_with_the_known_ones():
    with pytest.raises(RecipeError, match=r"slerp-999.*known recipes"):
        load_recipes(MergeConfig(recipes=["slerp-050", "slerp-999"]))


def test_missing_template_parameter_is_named():
    recipe = MergeRecipe(name="no-t", template="slerp")
    with pytest.raises(RecipeError, match="'t' is undefined"):
        render_recipe(recipe, MergeConfig(), base="b", finetuned="f", num_layers=2)


def test_unknown_template_lists_the_templates():
    recipe = MergeRecipe(name="x", template="ties_magic")
    with pytest.raises(RecipeError, match=r"template 'ties_magic' not found.*slerp_layer_schedule"):
        render_recipe(recipe, MergeConfig(), base="b", finetuned="f", num_layers=2)
