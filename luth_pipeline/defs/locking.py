"""One writer per asset partition: the assets' compute functions run under the store's lock."""

from __future__ import annotations

import functools
from collections.abc import Callable

import dagster as dg


def _partition(context: dg.AssetExecutionContext) -> str | dict[str, str] | None:
    if not context.has_partition_key:
        return None
    key = context.partition_key
    return dict(key.keys_by_dimension) if isinstance(key, dg.MultiPartitionKey) else key


def one_writer_per_partition(compute: Callable) -> Callable:
    """Decorate an asset's compute function (below `@dg.asset`) that takes `luth_storage`: a second
    concurrent materialization of the same partition waits for the first instead of interleaving
    its tables with it (see `DatasetStore.exclusive`)."""

    @functools.wraps(compute)
    def locked(context: dg.AssetExecutionContext, *args, **kwargs):
        store = kwargs["luth_storage"].store
        asset = context.asset_key.to_user_string()
        with store.exclusive(asset, _partition(context), on_wait=context.log.info):
            return compute(context, *args, **kwargs)

    return locked
