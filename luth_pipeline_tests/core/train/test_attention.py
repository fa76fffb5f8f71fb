"""The attention choice: what `auto` picks, clear errors for what this host cannot run, batch shapes."""

import pytest
import torch

from luth_pipeline.core.train.attention import (
    FLEX_BLOCK,
    fixed_row_width,
    is_varlen,
    resolve_attention,
    use_flex_attention_in_autocast_dtype,
)
from luth_pipeline.core.train.packed import PackedCollator


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU host behaviour")
def test_auto_is_sdpa_on_cpu_and_flash_needs_cuda():
    assert resolve_attention("auto") == "sdpa"
    assert resolve_attention("flex_attention") == "flex_attention"
    with pytest.raises(RuntimeError, match="flash_attention_2 needs CUDA and flash-attn"):
        resolve_attention("flash_attention_2")
    with pytest.raises(ValueError, match="not one of"):
        resolve_attention("dense")


@pytest.mark.gpu
def test_auto_never_picks_dense_sdpa_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: torch.cuda.is_available() is False")
    assert resolve_attention("auto") in {"flash_attention_4", "flash_attention_3", "flash_attention_2", "flex_attention"}


def test_batch_shape_follows_the_backend():
    assert is_varlen("flash_attention_3") and not is_varlen("flex_attention")
    assert fixed_row_width("flex_attention", 1000) == 1024 and fixed_row_width("sdpa", 1000) is None
    rows = [{"input_ids": [5, 6, 7], "labels": [5, 6, 7], "position_ids": [0, 1, 0]},
            {"input_ids": [8], "labels": [8], "position_ids": [0]}]
    batch = PackedCollator(pad_token_id=0, pad_to_length=FLEX_BLOCK)(rows)
    assert batch["input_ids"].shape == (2, FLEX_BLOCK)
    assert batch["position_ids"][1, :3].tolist() == [0, 0, 1]  # the padding restarts: a document of its own
    with pytest.raises(ValueError, match="longer than the fixed row width 2"):
        PackedCollator(pad_token_id=0, pad_to_length=2)(rows)


def test_flex_attention_gets_one_dtype_under_autocast(monkeypatch):
    """Qwen3's q/k norms return fp32 under autocast over fp32 weights while v is bf16: the engine's
    flex implementation hands the kernel all three in the autocast dtype (and leaves fp32 runs alone)."""
    from transformers import AttentionInterface
    from transformers.integrations import flex_attention as hf_flex

    seen = []
    monkeypatch.setattr(hf_flex, "flex_attention_forward", lambda module, q, k, v, mask, **kw: seen.append((q.dtype, k.dtype, v.dtype)))
    monkeypatch.setitem(AttentionInterface._global_mapping, "flex_attention", AttentionInterface._global_mapping["flex_attention"])
    use_flex_attention_in_autocast_dtype()
    flex = AttentionInterface()["flex_attention"]
    q, k, v = torch.zeros(1, 2, 4, 8), torch.zeros(1, 2, 4, 8), torch.zeros(1, 2, 4, 8, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        flex(None, q, k, v, None)
    flex(None, q, k, v.float(), None)
    assert seen == [(torch.bfloat16,) * 3, (torch.float32,) * 3]
