"""On a CUDA host the same recipe merges on the GPU and matches the CPU result."""

import numpy as np
import pytest
import torch

from luth_pipeline.core.merge.recipes import load_catalogue
from luth_pipeline.core.merge.run import merge_checkpoints
from luth_pipeline_tests.core.merge.models import weights


@pytest.mark.gpu
def test_cuda_merge_matches_cpu(tiny_model_path, finetuned_path, merge_config, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")
    recipe = load_catalogue(merge_config)["slerp-upstream"]
    cpu = merge_checkpoints(recipe, merge_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "cpu")
    cuda_config = merge_config.model_copy(update={"device": "auto", "read_to_gpu": True})
    gpu = merge_checkpoints(recipe, cuda_config, base=tiny_model_path, finetuned=finetuned_path, out_dir=tmp_path / "gpu")
    assert gpu.device == "cuda"
    cpu_w, gpu_w = weights(cpu.path), weights(gpu.path)
    for name in cpu_w:
        np.testing.assert_allclose(gpu_w[name], cpu_w[name], atol=1e-5, err_msg=name)
