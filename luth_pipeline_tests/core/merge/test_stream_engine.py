"""Engine `stream` writes exactly what mergekit's `run_merge` writes: same tensors, same bits."""

import pytest
import torch
from mergekit.merge_methods.api import merge_tensors
from safetensors.torch import load_file

from luth_pipeline.core.merge.recipes import MergeRecipe, RecipeError, load_catalogue
from luth_pipeline.core.merge.run import merge_checkpoints
from luth_pipeline.core.threads import torch_threads
from luth_pipeline.core.merge.stream import ChunkBuffers, slerp_exact


def _tensors(folder):
    tensors = {}
    for file in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(file)))
    return tensors


def _mergekit_slerp(t, base, other):
    """What run_merge computes for one tensor: mergekit's public single-tensor API, base first."""
    return merge_tensors([base, other], "slerp", parameters={"t": t}, base_index=0)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("recipe_name", ["slerp-070", "slerp-upstream", "linear-030"])
def test_stream_engine_writes_the_same_bits_as_run_merge(tiny_model_path, finetuned_path, merge_config, tmp_path, dtype, recipe_name):
    config = merge_config.model_copy(update={"dtype": dtype})
    recipe = load_catalogue(config)[recipe_name]
    runs = {
        engine: merge_checkpoints(
            recipe, config.model_copy(update={"engine": engine}), base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / engine
        )
        for engine in ("mergekit", "stream")
    }
    reference, ours = _tensors(runs["mergekit"].path), _tensors(runs["stream"].path)
    assert ours.keys() == reference.keys() and len(ours) > 10
    for name, tensor in reference.items():
        assert ours[name].dtype == tensor.dtype == getattr(torch, dtype), name
        assert torch.equal(ours[name], tensor), f"{recipe_name} {dtype}: {name} differs from mergekit's"
    assert runs["stream"].checksum == runs["mergekit"].checksum
    assert sorted(p.name for p in runs["stream"].path.iterdir()) == sorted(p.name for p in runs["mergekit"].path.iterdir())
    # The equality means something only if the fast SLERP path really ran (linear: mergekit's own kernel).
    path = "fast_slerp" if recipe_name.startswith("slerp") else "mergekit_kernel"
    assert runs["stream"].engine_counts == {"fast_slerp": 0, "mergekit_kernel": 0} | {path: len(reference)}


def _pairs():
    """Tensor pairs that reach every branch of mergekit's SLERP kernel."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2_500_000, generator=g) * 0.02  # two full 1M-element chunks and a partial one
    near = a + torch.randn(a.shape, generator=g) * 0.002
    small = torch.randn(3, 5, generator=g)
    return {
        "multi-chunk": (a.reshape(1000, 2500), near.reshape(1000, 2500)),
        "colinear (linear fallback)": (small, 1.5 * small),
        "antipodal (linear fallback)": (small, -small),
        "zero base (norm below eps)": (torch.zeros(3, 5), small),
        "one element": (torch.tensor([0.5]), torch.tensor([-0.25])),
        "scalar": (torch.tensor(0.5), torch.tensor(2.0)),
    }


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("case", list(_pairs()))
def test_slerp_exact_equals_mergekits_kernel_bit_for_bit(case, dtype):
    base, other = (x.to(dtype) for x in _pairs()[case])
    buffers = ChunkBuffers()  # reused across calls, as in a merge
    for t in (0.0, 0.3, 0.7, 1.0):
        ours = slerp_exact(t, base, other, buffers=buffers)
        reference = _mergekit_slerp(t, base, other)
        assert ours.dtype == reference.dtype == dtype and ours.shape == base.shape
        assert torch.equal(ours, reference), f"{case} {dtype} t={t}"
    if case == "multi-chunk":  # not trivially equal to either input or to plain interpolation
        lerp = (0.3 * base.float() + 0.7 * other.float()).to(dtype)
        assert not torch.equal(slerp_exact(0.7, base, other), lerp)


def test_stream_engine_refuses_a_plan_it_cannot_run_before_writing(tiny_model_path, finetuned_path, merge_config, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    # A tokenizer merge makes mergekit plan vocabulary permutations: only run_merge executes those.
    (templates / "slerp_tokenizer.yaml.j2").write_text(
        "models:\n  - model: {{ finetuned | tojson }}\n  - model: {{ base | tojson }}\n"
        "merge_method: slerp\nbase_model: {{ base | tojson }}\nparameters:\n  t: 0.5\n"
        "tokenizer:\n  source: base\ndtype: float32\n"
    )
    config = merge_config.model_copy(update={"template_dir": str(templates)})
    recipe = MergeRecipe(name="slerp-tok", template="slerp_tokenizer")
    out_dir = tmp_path / "store" / "merged"
    with pytest.raises(RecipeError, match="merge.engine: mergekit") as excinfo:
        merge_checkpoints(recipe, config, base=tiny_model_path, finetuned=finetuned_path, out_dir=out_dir)
    assert "slerp-tok" in str(excinfo.value)
    assert not (tmp_path / "store").exists()
    # The same recipe runs with mergekit's own executor.
    result = merge_checkpoints(recipe, config.model_copy(update={"engine": "mergekit"}), base=tiny_model_path, finetuned=finetuned_path, out_dir=out_dir)
    assert result.engine == "mergekit" and (out_dir / "model.safetensors").is_file()


def test_merge_threads_apply_during_the_merge_only():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
