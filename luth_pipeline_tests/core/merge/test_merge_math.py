"""The merged weights are what the method's formula says, tensor by tensor (real mergekit runs)."""

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from luth_pipeline.core.merge.recipes import MergeRecipe, load_catalogue
from luth_pipeline.core.merge.run import merge_checkpoints
from luth_pipeline_tests.core.merge.models import save_variant, slerp_reference, weights

ATOL = 1e-6


def test_linear_merge_is_alpha_ft_plus_one_minus_alpha_base(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = load_catalogue(merge_config)["linear-030"]
    result = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "out")
    base, ft, merged = weights(tiny_model_path), weights(finetuned_path), weights(result.path)
    assert merged.keys() == base.keys() and len(merged) > 10
    for name, tensor in merged.items():
        np.testing.assert_allclose(tensor, 0.3 * ft[name] + 0.7 * base[name], atol=ATOL, err_msg=name)
    assert not np.allclose(merged["model.embed_tokens.weight"], base["model.embed_tokens.weight"])


def test_slerp_matches_the_closed_form_on_every_tensor(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = load_catalogue(merge_config)["slerp-070"]
    result = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "out")
    base, ft, merged = weights(tiny_model_path), weights(finetuned_path), weights(result.path)
    for name, tensor in merged.items():
        np.testing.assert_allclose(tensor, slerp_reference(0.7, base[name], ft[name]), atol=ATOL, err_msg=name)
    # The test means something only if SLERP differs from plain interpolation on these weights.
    for name in ("model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight"):
        lerp = 0.3 * base[name] + 0.7 * ft[name]
        assert np.abs(merged[name] - lerp).max() > 100 * ATOL, name


def test_slerp_falls_back_to_linear_for_colinear_tensors(tiny_model_path, merge_config, tmp_path):
    name = "model.layers.1.self_attn.o_proj.weight"
    base_weights = weights(tiny_model_path)

    def scale_one_tensor(params):
        # This tensor becomes colinear with the base's: θ = 0, where sin θ divides by zero.
        params[name].copy_(torch.from_numpy(base_weights[name] * 1.5).float())

    finetuned = save_variant(tiny_model_path, tmp_path / "ft", edit=scale_one_tensor)
    recipe = MergeRecipe(name="slerp-040", template="slerp", params={"t": 0.4})
    result = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned, out_dir=tmp_path / "out")
    merged = weights(result.path)[name]
    expected = 0.6 * base_weights[name] + 0.4 * (1.5 * base_weights[name])
    np.testing.assert_allclose(merged, expected, atol=ATOL)
    assert np.isfinite(merged).all()


def test_per_layer_t_schedule_is_interpolated_over_layers(tiny_model_path, merge_config, tmp_path):
    layers = 4  # positions 0, 1/3, 2/3, 1 fall between the schedule's 5 anchor points
    base = save_variant(tiny_model_path, tmp_path / "base", config_changes={"num_hidden_layers": layers, "layer_types": ["full_attention"] * layers}, noise=0)
    finetuned = save_variant(base, tmp_path / "ft", seed=7)
    recipe = load_catalogue(merge_config)["slerp-upstream"]
    result = merge_checkpoints(recipe, merge_config, base=base, finetuned=finetuned, out_dir=tmp_path / "out")
    b, f, merged = weights(base), weights(finetuned), weights(result.path)

    anchors = np.linspace(0, 1, 5)
    attn_t = np.interp(np.arange(layers) / (layers - 1), anchors, [0, 0.5, 0.3, 0.7, 1])
    mlp_t = np.interp(np.arange(layers) / (layers - 1), anchors, [1, 0.5, 0.7, 0.3, 0])
    np.testing.assert_allclose(attn_t, [0, 0.4333333, 0.5666667, 1], atol=1e-6)  # the schedule really varies
    checked = 0
    for name, tensor in merged.items():
        if ".layers." in name:
            layer = int(name.split(".layers.")[1].split(".")[0])
            t = attn_t[layer] if ".self_attn." in name else mlp_t[layer] if ".mlp." in name else 0.5
        else:
            t = 0.5  # embeddings and final norm: no filter matches, the default t applies
        np.testing.assert_allclose(tensor, slerp_reference(t, b[name], f[name]), atol=ATOL, err_msg=f"{name} t={t}")
        checked += 1
    assert checked == len(b)
    schedule = result.plan.layer_schedule()
    np.testing.assert_allclose(schedule["self_attn"], attn_t, atol=1e-9)
    np.testing.assert_allclose(schedule["mlp"], mlp_t, atol=1e-9)


def test_merged_checkpoint_opens_with_tokenizer_and_chat_template(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = load_catalogue(merge_config)["slerp-050"]
    result = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "out")
    model = AutoModelForCausalLM.from_pretrained(result.path)
    tokenizer = AutoTokenizer.from_pretrained(result.path)
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(finetuned_path).chat_template
    assert tokenizer.get_vocab() == AutoTokenizer.from_pretrained(finetuned_path).get_vocab()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Salut"}], add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 3
    assert (result.path / "mergekit_config.yml").read_text() == result.plan.yaml_text
    assert len(result.checksum) == 64 and result.num_parameters == sum(p.numel() for p in model.parameters())


def test_same_inputs_give_the_same_checksum(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = load_catalogue(merge_config)["linear-050"]
    first = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "a")
    again = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "b")
    other = merge_checkpoints(load_catalogue(merge_config)["linear-070"], merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "c")
    assert first.checksum == again.checksum != other.checksum


def test_merged_folder_carries_our_model_card(tiny_model_path, finetuned_path, merge_config, tmp_path):
    from luth_pipeline.core.train.model_card import split_card

    recipe = load_catalogue(merge_config)["linear-070"]
    parents = {"base": {"checkpoint": "tiny.base", "path": str(tiny_model_path), "hub_id": "org/tiny-base"},
               "finetuned": {"checkpoint": "tiny.finetuned", "path": str(finetuned_path)}}
    result = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path,
                               out_dir=tmp_path / "out", lineage=parents)
    front, body = split_card((result.path / "README.md").read_text())
    assert front["base_model"] == ["org/tiny-base"] and "mergekit" in front["tags"]
    assert result.plan.yaml_text.strip() in body and f"| parameter_checksum | {result.checksum} |" in body
