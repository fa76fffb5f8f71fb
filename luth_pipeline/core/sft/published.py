"""The published Luth-SFT (`kurakurai/luth-sft`) as the input of `luth_sft`, instead of our mixture.

Each split becomes one mixture input whose rows keep their hub address: `parent_asset` is the
dataset's `hf://datasets/<id>` URI and `parent_id` `<split>/<row>`, so a row's lineage ends at
the hub dataset and split it came from. Everything after loading (normalization, dedup,
decontamination, card, checks, packing) is the mixture's own code path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from luth_pipeline.core.config.base import ConfigError
from luth_pipeline.core.sft.config import MixtureInput, PublishedSFTConfig
from luth_pipeline.core.sft.mixture import MESSAGES_DTYPE, LoadedInput

HUB_SCHEME = "hf://datasets/"


def hub_uri(config: PublishedSFTConfig) -> str:
    return f"{HUB_SCHEME}{config.hf_id}" + (f"@{config.revision}" if config.revision else "")


def load_published(config: PublishedSFTConfig, resolve_path: Callable[[str], Path]) -> tuple[list[LoadedInput], list[str]]:
    """One `LoadedInput` per configured split, read with the real `datasets.load_dataset`."""
    import datasets

    origin = str(resolve_path(config.path)) if config.path else config.hf_id
    uri = hub_uri(config)
    loaded = []
    for split in config.splits:
        try:
            dataset = datasets.load_dataset(origin, split=split, revision=config.revision)
        except ValueError as exc:
            if "split" in str(exc).lower():  # datasets names the available splits
                raise ConfigError(f"sft.published.splits: {split!r} is not a split of {origin}: {exc}") from exc
            raise
        if config.messages_column not in dataset.column_names:
            raise ConfigError(f"sft.published.messages_column: {origin} split {split} has no column "
                              f"{config.messages_column!r} (columns: {dataset.column_names})")
        turns = pl.from_arrow(dataset.data.table.select([config.messages_column])).to_series()
        # Field order (role, content) as in our chat tables, whatever order the shards store.
        messages = turns.list.eval(pl.struct(pl.element().struct.field("role"), pl.element().struct.field("content")))
        ids = [f"{split}/{i}" for i in range(len(messages))]
        frame = pl.DataFrame({"id": ids, "messages": messages.cast(MESSAGES_DTYPE), "source": [config.hf_id] * len(ids),
                              "source_id": ids})
        loaded.append(LoadedInput(MixtureInput(split=split, asset=uri), frame))
    return loaded, []
