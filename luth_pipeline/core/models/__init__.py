"""Base models: resolve a profile's model spec to something `from_pretrained` opens."""

from __future__ import annotations

from pathlib import Path

from luth_pipeline.core.models.config import BaseModelSpec


def resolve_base_model(name: str, spec: BaseModelSpec, work_dir: Path) -> str:
    """A path or hub id that `AutoModelForCausalLM.from_pretrained` accepts for this base model."""
    if spec.build is not None:
        from luth_pipeline.core.models.tiny import tiny_model_dir

        return str(tiny_model_dir(spec.build, work_dir, name))
    return spec.hf_id
