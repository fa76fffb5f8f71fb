"""Base model for every config section: unknown keys are errors, not silently ignored."""

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """A profile or config file is invalid; the message names the file and the key."""


class StrictModel(BaseModel):
    # extra="forbid" turns a typo such as `treshold:` into a load-time error naming the key.
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
