"""On a CUDA host the same recipe merges on the GPU: the stream engine gives mergekit's bits there
too, and both match the CPU result."""

import numpy as np
import pytest
import torch
from mergekit.merge_methods.api import merge_tensors

from luth_pipeline.core.merge.recipes import load_catalogue
from luth_pipeline.core.merge.run import merge_checkpoints
from luth_pipeline.core.merge.stream import slerp_exact
from luth_pipeline_tests.core.merge.models import weights


def _needs_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")


@pytest.mark.gpu
def test_cuda_merge_matches_cpu(tiny_model_path, finetuned_path, merge_config, tmp_path):
    _needs_cuda()
    recipe = load_catalogue(merge_config)["slerp-upstream"]
    cpu = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "cpu")
    cuda_config = merge_config.model_copy(update={"device": "auto", "read_to_gpu": True})
    gpu = merge_checkpoints(recipe, cuda_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "gpu")
    assert gpu.device == "cuda" and gpu.engine_counts["fast_slerp"] > 10
    cpu_w, gpu_w = weights(cpu.path), weights(gpu.path)
    for name in cpu_w:
        np.testing.assert_allclose(gpu_w[name], cpu_w[name], atol=1e-5, err_msg=name)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_stream_engine_on_cuda_writes_mergekits_bits(tiny_model_path, finetuned_path, merge_config, tmp_path, dtype):
    _needs_cuda()
    config = merge_config.model_copy(update={"device": "cuda", "read_to_gpu": True, "dtype": dtype})
    recipe = load_catalogue(config)["slerp-upstream"]
    runs = {
        engine: merge_checkpoints(recipe, config.model_copy(update={"engine": engine}), base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / engine)
        for engine in ("mergekit", "stream")
    }
    assert runs["stream"].device == "cuda" and runs["stream"].engine_counts["fast_slerp"] > 10
    assert runs["stream"].checksum == runs["mergekit"].checksum


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_slerp_exact_on_cuda_equals_mergekits_kernel(dtype):
    _needs_cuda()
    g = torch.Generator().manual_seed(0)
    base = (torch.randn(2_500_000, generator=g) * 0.02).to(dtype)
    other = (base.float() + torch.randn(base.shape, generator=g) * 0.002).to(dtype)
    base, other = base.cuda(), other.cuda()
    for t in (0.3, 0.7):
        ours = slerp_exact(t, base, other)
        assert ours.is_cuda
        assert torch.equal(ours, merge_tensors([base, other], "slerp", parameters={"t": t}, base_index=0))
