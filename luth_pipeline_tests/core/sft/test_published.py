"""`sft.source: published`: the published Luth-SFT's splits read with the real `datasets.load_dataset`."""

import pytest

from luth_pipeline.core.config import ConfigError
from luth_pipeline.core.sft.config import PUBLISHED_SPLIT_SIZES, PublishedSFTConfig
from luth_pipeline.core.sft.mixture import MESSAGES_DTYPE
from luth_pipeline.core.sft.published import load_published
from luth_pipeline_tests.fixtures.make_published_sft_fixture import SPLIT_ROWS


def test_every_split_is_read_with_its_hub_address(local_profile):
    config = local_profile.sft.published
    assert config.hf_id == "kurakurai/luth-sft" and config.splits == list(PUBLISHED_SPLIT_SIZES) == list(SPLIT_ROWS)
    loaded, missing = load_published(config, local_profile.resolve_path)
    assert missing == [] and [item.spec.split for item in loaded] == list(SPLIT_ROWS)
    for item in loaded:
        assert item.spec.asset == "hf://datasets/kurakurai/luth-sft"
        assert item.rows.height == SPLIT_ROWS[item.spec.split]
        assert item.rows["id"].to_list() == [f"{item.spec.split}/{i}" for i in range(item.rows.height)]
        assert item.rows.schema["messages"] == MESSAGES_DTYPE  # hub order (content, role) → ours
        first = item.rows["messages"][0].to_list()[0]
        assert first["role"] == "user" and first["content"]
        assert set(item.rows["source"]) == {"kurakurai/luth-sft"}


def test_a_subset_of_splits_and_a_revision(local_profile):
    config = local_profile.sft.published.model_copy(update={"splits": ["luth_openhermes", "luth_scholar"], "revision": None})
    loaded, _ = load_published(config, local_profile.resolve_path)
    assert [(i.spec.split, i.rows.height) for i in loaded] == [("luth_openhermes", 12), ("luth_scholar", 4)]
    pinned = PublishedSFTConfig(revision="0123abc")
    from luth_pipeline.core.sft.published import hub_uri
    assert hub_uri(pinned) == "hf://datasets/kurakurai/luth-sft@0123abc"


def test_unknown_split_or_column_is_a_config_error(local_profile):
    config = local_profile.sft.published
    with pytest.raises(ConfigError, match=r"sft\.published\.splits: 'luth_nope'"):
        load_published(config.model_copy(update={"splits": ["luth_nope"]}), local_profile.resolve_path)
    with pytest.raises(ConfigError, match=r"sft\.published\.messages_column.*'conversations'.*\['messages'\]"):
        load_published(config.model_copy(update={"messages_column": "conversations", "splits": ["luth_scholar"]}), local_profile.resolve_path)
    with pytest.raises(ValueError, match="at least one split"):
        PublishedSFTConfig(splits=[])
