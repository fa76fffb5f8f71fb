"""Reading what a Hugging Face checkpoint folder holds without loading the model."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

# Files that make a checkpoint usable besides its weights (what `from_pretrained` needs).
_SNAPSHOT_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


def local_checkpoint(ref: str, revision: str | None = None) -> Path:
    """A local folder for `ref`: the folder itself, or a hub snapshot (GPU hosts with hub access)."""
    path = Path(ref)
    if path.is_dir():
        return path
    if path.is_absolute() or ref.startswith("."):
        raise FileNotFoundError(f"checkpoint folder {ref} does not exist")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(ref, revision=revision, allow_patterns=_SNAPSHOT_PATTERNS))


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a Hugging Face checkpoint: {path.name} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


def safetensors_files(folder: Path) -> list[Path]:
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(
            f"{folder} has no *.safetensors weights; re-save the checkpoint with `save_pretrained(..., safe_serialization=True)`"
        )
    return files


def tensor_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor, read from the safetensors headers only."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in safetensors_files(folder):
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():
                shapes[name] = tuple(f.get_slice(name).get_shape())
    return shapes


def parameter_checksum(folder: Path) -> tuple[str, int]:
    """SHA-256 over every tensor (name, dtype, shape, bytes) in name order, and the parameter count.

    Independent of sharding and file layout, so two merges with the same result hash alike.
    """
    import torch
    from safetensors import safe_open

    where: dict[str, Path] = {}
    for file in safetensors_files(folder):
        with safe_open(str(file), framework="pt") as f:
            where.update({name: file for name in f.keys()})
    digest, count = hashlib.sha256(), 0
    handles: dict[Path, object] = {}
    try:
        for name in sorted(where):
            if where[name] not in handles:
                handles[where[name]] = safe_open(str(where[name]), framework="pt").__enter__()
            tensor = handles[where[name]].get_tensor(name)
            digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.contiguous().view(torch.uint8).numpy().tobytes())
            count += tensor.numel()
    finally:
        for handle in handles.values():
            handle.__exit__(None, None, None)
    return digest.hexdigest(), count


def carry_over_tokenizer(source: Path, target: Path) -> None:
    """Tokenizer, chat template and generation config of `source`, saved into `target`."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source))
    tokenizer.save_pretrained(str(target))
    generation_config = Path(source) / "generation_config.json"
    if generation_config.is_file():
        shutil.copy(generation_config, Path(target) / generation_config.name)
