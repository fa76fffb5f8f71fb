"""Tiny checkpoint pairs for merge tests: a "fine-tuned" model is the base with perturbed weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


def save_variant(
    base: str | Path,
    out: Path,
    *,
    seed: int = 1,
    noise: float = 0.02,
    edit: Callable[[dict[str, torch.Tensor]], None] | None = None,
    config_changes: dict | None = None,
) -> Path:
    """Save `base` (or a fresh model of its config with `config_changes`) plus noise, with its tokenizer."""
    if config_changes:
        config = AutoConfig.from_pretrained(base)
        for key, value in config_changes.items():
            setattr(config, key, value)
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    else:
        model = AutoModelForCausalLM.from_pretrained(base)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * noise)
        if edit is not None:
            edit(dict(model.named_parameters()))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def weights(folder: Path) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        tensors.update({k: v.double().numpy() for k, v in load_file(str(file)).items()})
    return tensors


def slerp_reference(t: float, a: np.ndarray, b: np.ndarray, dot_threshold: float = 0.9995, eps: float = 1e-8) -> np.ndarray:
    """Closed-form SLERP as mergekit defines it: the whole tensor is one vector,

    merged = sin((1-t)θ)/sin θ · a + sin(tθ)/sin θ · b with θ = arccos(â·b̂),
    falling back to (1-t)·a + t·b when the two are (anti)colinear (|â·b̂| > 0.9995).
    """
    va, vb = a.ravel(), b.ravel()
    # A zero tensor has no direction: mergekit divides it by 1 instead of its norm.
    norm_a, norm_b = np.linalg.norm(va), np.linalg.norm(vb)
    dot = float(np.clip((va / (norm_a if norm_a > eps else 1.0)) @ (vb / (norm_b if norm_b > eps else 1.0)), -1, 1))
    if abs(dot) > dot_threshold:
        return (1 - t) * a + t * b
    theta = np.arccos(dot)
    return (np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)
