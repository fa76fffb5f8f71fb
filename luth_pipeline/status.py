"""`luth status`: which assets (and partitions) are missing or stale in the instance, and why.

Dagster decides staleness from what the instance recorded: an asset is STALE when its code
version (our config fingerprint) changed since it was materialized, or an upstream asset has
newer data; MISSING when it was never materialized. We print Dagster's root causes verbatim so
the answer matches the UI's "Unsynced" badges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg

from luth_pipeline.core.suggest import check_names


@dataclass
class AssetStatus:
    key: str
    partition: str | None
    status: str  # FRESH | STALE | MISSING
    causes: list[str]


def stale_status_resolver(instance: dg.DagsterInstance, graph):
    """Dagster's own staleness logic (the UI's "Unsynced" badges) over our asset graph.

    Dagster publishes staleness only through its GraphQL API (a running webserver); this is the
    resolver behind it, the one place the project reaches into Dagster internals (pinned by the
    dagster version range in pyproject.toml). Its statuses are compared by value (FRESH, STALE,
    MISSING) so nothing else imports them.
    """
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver

    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=datetime.now(timezone.utc), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    return CachingStaleStatusResolver(instance, graph, loading_context=view)


def partition_keys(graph, key, instance) -> list[str | None]:
    partitions_def = graph.get(key).partitions_def
    if partitions_def is None:
        return [None]
    return list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))


def _describe(cause) -> str:
    where = cause.key.asset_key.to_user_string() + (f"[{cause.key.partition_key}]" if cause.key.partition_key else "")
    dep = ""
    if cause.dependency is not None:
        dep = f" ({cause.dependency.asset_key.to_user_string()}" + (
            f"[{cause.dependency.partition_key}])" if cause.dependency.partition_key else ")"
        )
    return f"{where}: {cause.reason}{dep}"


def asset_statuses(defs: dg.Definitions, instance: dg.DagsterInstance, selection: list[str] | None = None) -> list[AssetStatus]:
    graph = defs.resolve_asset_graph()
    resolver = stale_status_resolver(instance, graph)
    keys = [k for level in graph.toposorted_asset_keys_by_level for k in sorted(level) if graph.get(k).is_materializable]
    if selection:
        check_names("asset", selection, [k.to_user_string() for k in keys])
        keys = [k for k in keys if k.to_user_string() in selection]
    out = []
    for key in keys:
        for partition in partition_keys(graph, key, instance):
            status = resolver.get_status(key, partition)
            causes = [_describe(c) for c in resolver.get_stale_root_causes(key, partition)] if status.value == "STALE" else []
            out.append(AssetStatus(key.to_user_string(), partition, status.value, causes))
    return out


def format_statuses(statuses: list[AssetStatus], show_fresh: bool = False) -> str:
    lines = [f"{'asset':<26} {'partition':<28} status"]
    for s in statuses:
        if s.status == "FRESH" and not show_fresh:
            continue
        lines.append(f"{s.key:<26} {s.partition or '–':<28} {s.status.lower()}")
        lines += [f"{'':<26} {'':<28}   ↳ {cause}" for cause in s.causes]
    fresh = sum(s.status == "FRESH" for s in statuses)
    missing = sum(s.status == "MISSING" for s in statuses)
    stale = sum(s.status == "STALE" for s in statuses)
    lines.append(f"\n{fresh} up to date, {stale} stale, {missing} never materialized (of {len(statuses)} asset partitions).")
    if stale or missing:
        lines.append("Bring them up to date with `luth demo` (only stale parts run) or from the UI (`make ui`).")
    return "\n".join(lines)
