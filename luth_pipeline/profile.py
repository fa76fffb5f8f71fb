"""The profile this process runs with (LUTH_PROFILE), loaded once.

Asset definitions need it at import time (partition keys, code versions); assets read values
through the injected `LuthConfig` resource so tests can swap profiles.
"""

from functools import cache

from luth_pipeline.core.config import Profile, load_profile


@cache
def current_profile() -> Profile:
    return load_profile()
