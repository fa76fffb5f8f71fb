"""The finished checkpoint folder: a standard HF model directory plus its card and run summary.

Both engines end here, so `finetuned_checkpoint` looks the same whichever trained it:
config + safetensors weights, tokenizer with its chat template, generation config, README.md
(model card: data lineage, hyper-parameters, results) and `training_summary.json`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

# What a from_pretrained folder needs; Axolotl's output dir also holds checkpoint-N/ and logs.
_MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)


def save_trained_model(model, tokenizer, out_dir: Path, base_model_path: str) -> None:
    """Weights (safetensors), tokenizer + chat template and the base model's generation config."""
    from transformers import GenerationConfig

    model.config.use_cache = True  # training turned it off; inference wants it back
    _cast_to_base_dtype(model, base_model_path)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    try:
        GenerationConfig.from_pretrained(base_model_path).save_pretrained(out_dir)
    except OSError:
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.save_pretrained(out_dir)


def _cast_to_base_dtype(model, base_model_path: str) -> None:
    """Save in the base checkpoint's dtype (bf16 for Qwen3/LFM2): the fp32 master weights are a
    training device, not something to ship at twice the size."""
    import torch
    from transformers import AutoConfig

    try:
        dtype = getattr(AutoConfig.from_pretrained(base_model_path), "dtype", None)
    except OSError:
        return
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point and next(model.parameters()).dtype != dtype:
        model.to(dtype)


def copy_model_files(src: Path, dst: Path, base_model_path: str) -> list[str]:
    """Copy the final model out of a trainer's output dir (weights shards included, checkpoints not)."""
    src = Path(src)
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"{src} has no config.json: the trainer did not save a final model there")
    copied = []
    for path in sorted(src.iterdir()):
        if path.is_file() and (path.name in _MODEL_FILES or (path.name.startswith("model-") and path.suffix == ".safetensors")):
            shutil.copy2(path, dst / path.name)
            copied.append(path.name)
    if not (dst / "generation_config.json").exists():
        from transformers import GenerationConfig

        try:
            GenerationConfig.from_pretrained(base_model_path).save_pretrained(dst)
            copied.append("generation_config.json")
        except OSError:
            pass
    return copied


def checkpoint_hash(folder: Path) -> str:
    """sha256 over the model files' names and bytes (card and logs excluded): identifies the weights."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and (path.name in _MODEL_FILES or path.suffix == ".safetensors"):
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def write_summary(folder: Path, summary: dict) -> None:
    (Path(folder) / "training_summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
