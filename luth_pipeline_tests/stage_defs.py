"""The stages' Dagster definitions for tests, built from a profile the way the code location
builds them (`luth_pipeline.definitions.build_stages`): asset, check, schedule and sensor objects
by name, without resources, so a test materializes them with its own."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import dagster as dg

from luth_pipeline.core.config import load_profile
from luth_pipeline.definitions import build_stages


@cache
def stage_defs(profile: str | Path = "local") -> dg.Definitions:
    """Every stage built from `profile` (a name under configs/profiles/ or a YAML path)."""
    return build_stages(load_profile(str(profile)))


def assets(*keys: str, profile: str | Path = "local") -> list[dg.AssetsDefinition]:
    """The asset definitions of these keys, in that order."""
    by_key = {key.to_user_string(): a for a in stage_defs(profile).assets or [] for key in a.keys}
    return [by_key[key] for key in keys]


def checks(*names: str, profile: str | Path = "local") -> list[dg.AssetChecksDefinition]:
    """The asset check definitions of these check names, in that order."""
    by_name = {key.name: c for c in stage_defs(profile).asset_checks or [] for key in c.check_keys}
    return [by_name[name] for name in names]


def schedule(name: str, profile: str | Path = "local") -> dg.ScheduleDefinition:
    return next(s for s in stage_defs(profile).schedules or [] if s.name == name)


def sensor(name: str, profile: str | Path = "local") -> dg.SensorDefinition:
    return next(s for s in stage_defs(profile).sensors or [] if s.name == name)
