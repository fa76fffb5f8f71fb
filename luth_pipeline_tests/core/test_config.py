from pathlib import Path

import pytest

from luth_pipeline.core.config import ConfigError, load_profile, stage_fingerprint


@pytest.mark.parametrize("name", ["local", "gpu", "prod"])
def test_every_shipped_profile_loads(name):
    profile = load_profile(name)
    assert profile.sources and profile.base_models


def test_typo_names_the_key_and_the_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: local\nfrench:\n  min_probabilty: 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_profile(str(bad))
    assert "french.min_probabilty" in str(err.value) and str(bad) in str(err.value)


def test_wrong_type_names_the_key(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: local\nseed: many\n")
    with pytest.raises(ConfigError, match=r"`seed`"):
        load_profile(str(bad))


def test_missing_profile_lists_known_ones():
    with pytest.raises(ConfigError, match="known profiles: .*local"):
        load_profile("nope")


def test_fingerprint_changes_only_with_its_section():
    local = load_profile("local")
    changed = local.model_copy(update={"seed": 7})
    assert stage_fingerprint(local.french) == stage_fingerprint(changed.french)
    assert stage_fingerprint(local.french) != stage_fingerprint(local.french.model_copy(update={"min_chars": 1}))
