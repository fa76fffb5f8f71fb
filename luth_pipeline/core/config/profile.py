"""The profile: which data, models and backends a run uses (`local`, `gpu`, `prod`).

Profiles only choose values and resource implementations; no code branches on a profile's name.
`LUTH_PROFILE` picks one (default `local`); `LUTH_PROFILE` may also be a path to a YAML file.
Relative paths inside a profile resolve against the repository root, so the same file works
from any working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from luth_pipeline.core.config.base import ConfigError, StrictModel
from luth_pipeline.core.config.cluster import ClusterConfig
from luth_pipeline.core.eval.config import EvalConfig
from luth_pipeline.core.french.config import FrenchFilterConfig
from luth_pipeline.core.llm.config import LLMConfig
from luth_pipeline.core.merge.config import MergeConfig
from luth_pipeline.core.models.config import BaseModelSpec
from luth_pipeline.core.scholar.config import ScholarConfig
from luth_pipeline.core.sft.config import SFTConfig
from luth_pipeline.core.sources.config import SourceConfig
from luth_pipeline.core.train.config import TrainConfig
from luth_pipeline.core.tulu.config import TuluConfig

REPO_ROOT = Path(__file__).resolve().parents[3]
PROFILES_DIR = REPO_ROOT / "configs" / "profiles"
DEFAULT_PROFILE = "local"


class Profile(StrictModel):
    name: str
    description: str = ""
    # Where datasets and checkpoints are written: a local folder or an s3:// URI.
    data_root: str = ".luth_data"
    # Local scratch (model builds, caches) — always a local folder.
    work_dir: str = ".luth_work"
    seed: int = 42
    # How many worker processes CPU-bound stages may use (0 = all cores).
    num_proc: int = 0
    # How a run executes its steps: `in_process` runs an asset and its checks in the run's own
    # process (a one-asset run pays one definitions load; right on a laptop), `multiprocess` gives
    # every step its own process (isolation and parallel steps on a cluster pod), `k8s` / `ecs` give
    # every step its own pod / task sized by its op tags (a GPU step asks for its GPUs however it
    # was launched: UI Materialize, schedule, sensor, backfill).
    executor: Literal["in_process", "multiprocess", "k8s", "ecs"] = "multiprocess"
    sources: dict[str, SourceConfig]
    french: FrenchFilterConfig = FrenchFilterConfig()
    llm: LLMConfig = LLMConfig()
    tulu: TuluConfig = TuluConfig()
    scholar: ScholarConfig = ScholarConfig()
    sft: SFTConfig = SFTConfig()
    base_models: dict[str, BaseModelSpec]
    train: TrainConfig = TrainConfig()
    merge: MergeConfig = MergeConfig()
    eval: EvalConfig = EvalConfig()
    cluster: ClusterConfig = ClusterConfig()

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the profile, made absolute against the repository root."""
        path = Path(os.path.expandvars(str(value))).expanduser()
        return path if path.is_absolute() else REPO_ROOT / path

    @property
    def work_path(self) -> Path:
        return self.resolve_path(self.work_dir)

    @property
    def data_uri(self) -> str:
        """`data_root` as an absolute local path, or unchanged when it is a URI (s3://…)."""
        root = os.path.expandvars(self.data_root)
        return root if "://" in root else str(self.resolve_path(root))


def profile_path(name_or_path: str | None = None) -> Path:
    name_or_path = name_or_path or os.environ.get("LUTH_PROFILE") or DEFAULT_PROFILE
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"}:
        return candidate if candidate.is_absolute() else Path.cwd() / candidate
    return PROFILES_DIR / f"{name_or_path}.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise ConfigError(f"profile file {path} does not exist (known profiles: {known}); set LUTH_PROFILE")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a profile, applying `extends: other` (a profile name or a relative path) first."""
    if path in seen:
        raise ConfigError(f"{path}: `extends` forms a cycle: {' -> '.join(map(str, seen + (path,)))}")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    parent_path = PROFILES_DIR / f"{parent}.yaml" if "/" not in parent else (path.parent / parent)
    return _deep_merge(_load_raw(parent_path, seen + (path,)), data)


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid profile ({exc.error_count()} problem(s)):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "<top level>"
        if error["type"] == "extra_forbidden":
            lines.append(f"  - unknown key `{key}`: check its spelling against the profile schema")
        else:
            lines.append(f"  - `{key}`: {error['msg']} (got {error.get('input')!r:.80})")
    return "\n".join(lines)


def load_profile(name_or_path: str | None = None) -> Profile:
    """Load and validate a profile; errors name the file and every bad key."""
    path = profile_path(name_or_path)
    raw = _load_raw(path)
    raw.setdefault("name", path.stem)
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None


def stage_fingerprint(*sections: Any) -> str:
    """A short stable hash of config sections: used as an asset's code version so that
    changing one stage's config marks only that stage (and its descendants) stale."""
    payload = [s.model_dump(mode="json") if isinstance(s, StrictModel) else s for s in sections]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:12]
