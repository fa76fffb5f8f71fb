
import dagster as dg
from pydantic import PrivateAttr

from luth_pipeline.core.config import Profile, load_profile


class LuthConfig(dg.ConfigurableResource):
    """The active profile (a name under configs/profiles/ or a YAML path)."""

    profile: str = "local"
    _loaded: Profile | None = PrivateAttr(default=None)

    @property
    def values(self) -> Profile:
        if self._loaded is None:
            self._loaded = load_profile(self.profile)
        return self._loaded
