"""Profiles: one pydantic model per stage, composed into a `Profile` loaded from YAML.

`profile` imports every stage's config module, and those import `base` from this package, so
the profile names are resolved lazily: importing a stage config first never hits a cycle.
"""

from luth_pipeline.core.config.base import ConfigError, StrictModel

_PROFILE_NAMES = {"Profile", "load_profile", "profile_path", "stage_fingerprint"}

__all__ = ["ConfigError", "StrictModel", *sorted(_PROFILE_NAMES)]


def __getattr__(name: str):
    if name in _PROFILE_NAMES:
        from luth_pipeline.core.config import profile

        return getattr(profile, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
