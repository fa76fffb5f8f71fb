"""Profiles: one pydantic model per stage, composed into a `Profile` loaded from YAML."""

from luth_pipeline.core.config.base import ConfigError, StrictModel
from luth_pipeline.core.config.profile import Profile, load_profile, profile_path, stage_fingerprint

__all__ = ["ConfigError", "Profile", "StrictModel", "load_profile", "profile_path", "stage_fingerprint"]
