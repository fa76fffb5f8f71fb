"""On a CUDA host: every attention backend the light engine can pick computes the packed loss and
gradients of the documents trained one by one (fp32, and bf16 autocast over fp32 weights)."""

import pytest
import torch
from transformers import AutoTokenizer

from luth_pipeline.core.train.attention import available_flash_attention, resolve_attention
from luth_pipeline_tests.core.train.helpers import fixture_conversations, pack, tokenized_docs
from luth_pipeline_tests.core.train.test_packed import _model, engine_batch, one_by_one_loss, packed_loss

pytestmark = pytest.mark.gpu


def _backends() -> list[str]:
    if not torch.cuda.is_available():
        return ["flex_attention", "sdpa"]
    flash = available_flash_attention()
    return sorted({resolve_attention("auto"), "flex_attention", "sdpa", "eager", *([flash] if flash else [])})


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
@pytest.mark.parametrize("attn", _backends())
def test_cuda_packed_loss_and_gradients_equal_documents_one_by_one(tiny_model_path, attn, autocast):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")
    if attn.startswith("flash_attention") and not autocast:
        pytest.skip("flash-attn kernels take only fp16/bf16 inputs")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path)
    docs = tokenized_docs(tokenizer, fixture_conversations(12), 1024)
    table = pack(docs, capacity=700)
    assert table.height < len(docs)
    model = _model(tiny_model_path, attn).cuda()
    packed, packed_grads = packed_loss(model, engine_batch(tokenizer, table, attn), device="cuda", autocast=autocast)
    one_by_one, doc_grads = one_by_one_loss(model, docs, device="cuda", autocast=autocast)
    # bf16 keeps 8 significant bits: packed and unpacked runs round in different places (tiling,
    # reductions), so agreement is to a few bf16 ulps; fp32 (TF32 off, the default) agrees closely.
    loss_tol, grad_tol = (5e-3, 3e-2) if autocast else (1e-5, 1e-3)
    assert packed == pytest.approx(one_by_one, rel=loss_tol)
    for name, grad in doc_grads.items():
        assert _relative_error(packed_grads[name], grad) < grad_tol, f"{attn}: gradient of {name}"
