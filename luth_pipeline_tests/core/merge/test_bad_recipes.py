"""A bad recipe or a mismatched pair fails before anything is written, naming the problem."""

import pytest
from transformers import LlamaConfig, LlamaForCausalLM, AutoTokenizer

from luth_pipeline.core.merge.config import MergeConfig
from luth_pipeline.core.merge.recipes import MergeRecipe, RecipeError
from luth_pipeline.core.merge.run import merge_checkpoints
from luth_pipeline_tests.core.merge.models import save_variant


def _fails_without_writing(tmp_path, match, recipe, config, base, finetuned):
    out_dir = tmp_path / "store" / "merged_checkpoint" / "base_model=tiny,recipe=x"
    with pytest.raises(RecipeError, match=match) as excinfo:
        merge_checkpoints(recipe, config, base=base, finetuned=finetuned, out_dir=out_dir)
    assert not (tmp_path / "store").exists(), "a failed preflight must not create any output"
    return str(excinfo.value)


def test_unknown_merge_method(tiny_model_path, finetuned_path, merge_config, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "fancy.yaml.j2").write_text(
        "models:\n  - model: {{ finetuned | tojson }}\n  - model: {{ base | tojson }}\n"
        "merge_method: frankenmerge\nbase_model: {{ base | tojson }}\ndtype: float32\n"
    )
    config = merge_config.model_copy(update={"template_dir": str(templates)})
    message = _fails_without_writing(
        tmp_path, "unknown merge_method 'frankenmerge'", MergeRecipe(name="fancy", template="fancy"), config, tiny_model_path, finetuned_path
    )
    assert "'slerp'" in message and "'linear'" in message  # lists what mergekit knows


def test_linear_weights_not_summing_to_one(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = MergeRecipe(name="linear-typo", template="linear", params={"finetuned_weight": 0.6, "base_weight": 0.6})
    message = _fails_without_writing(tmp_path, "linear weights must sum to 1", recipe, merge_config, tiny_model_path, finetuned_path)
    assert "linear-typo" in message and "= 1.2" in message


def test_slerp_t_outside_unit_interval(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = MergeRecipe(name="slerp-150", template="slerp", params={"t": 1.5})
    _fails_without_writing(tmp_path, r"SLERP t must lie in \[0, 1\].*1\.5", recipe, merge_config, tiny_model_path, finetuned_path)


def test_schedule_value_outside_unit_interval_is_caught_per_tensor(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = MergeRecipe(
        name="bad-schedule", template="slerp_layer_schedule",
        params={"self_attn_t": [0, 1.2], "mlp_t": [1, 0], "default_t": 0.5},
    )
    _fails_without_writing(tmp_path, r"bad-schedule.*self_attn", recipe, merge_config, tiny_model_path, finetuned_path)


def test_mismatched_sizes(tiny_model_path, merge_config, tmp_path):
    wider = save_variant(tiny_model_path, tmp_path / "wider", config_changes={"intermediate_size": 96})
    recipe = MergeRecipe(name="slerp-050", template="slerp", params={"t": 0.5})
    message = _fails_without_writing(tmp_path, "mismatched architectures", recipe, merge_config, tiny_model_path, wider)
    assert "intermediate_size" in message


def test_mismatched_model_types(tiny_model_path, merge_config, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
    llama.save_pretrained(tmp_path / "llama")
    tokenizer.save_pretrained(tmp_path / "llama")
    recipe = MergeRecipe(name="linear-050", template="linear", params={"finetuned_weight": 0.5})
    message = _fails_without_writing(tmp_path, "mismatched architectures", recipe, merge_config, tiny_model_path, tmp_path / "llama")
    assert "model_type: base='qwen3' fine-tuned='llama'" in message


def test_fine_tuned_checkpoint_without_weights(tiny_model_path, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    recipe = MergeRecipe(name="slerp-050", template="slerp", params={"t": 0.5})
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        merge_checkpoints(recipe, MergeConfig(dtype="float32"), base=tiny_model_path, finetuned=empty, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failed_merge_keeps_the_previous_checkpoint(tiny_model_path, finetuned_path, merge_config, tmp_path):
    recipe = MergeRecipe(name="slerp-050", template="slerp", params={"t": 0.5})
    out = tmp_path / "out"
    first = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=out)
    bad = MergeRecipe(name="slerp-050", template="slerp", params={"t": -0.1})
    with pytest.raises(RecipeError):
        merge_checkpoints(bad, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=out)
    from luth_pipeline.core.merge.checkpoint_files import parameter_checksum

    assert parameter_checksum(out)[0] == first.checksum
