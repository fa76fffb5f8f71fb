"""`luth demo`: materialize the whole graph into the local instance, then print a summary.

Assets run in topological order; consecutive assets that share a partitioning run together,
one run per partition key. Asset partitions that Dagster already reports as up to date (same
code version and same upstream data versions) are skipped, so after a config change to one
stage only that stage and its descendants run again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg

from luth_pipeline.core.suggest import check_names
from luth_pipeline.defs.metadata import latest_materialization
from luth_pipeline.status import materializable_keys, stale_statuses


DEMO_LOGS = "luth-demo-logs"
# Written when a full demo ends with every asset partition up to date (see `fresh_mark`).
FRESH_MARK = "luth-demo-fresh.json"


def partition_keys(graph, key, instance) -> list[str | None]:
    partitions_def = graph.get(key).partitions_def
    if partitions_def is None:
        return [None]
    return list(partitions_def.get_partition_keys(dynamic_partitions_store=instance))


class _Staleness:
    """Dagster's answer to "is this asset partition up to date?" (`luth status`'s), asked once and
    asked again only when it may have changed: after a run, for a part that was up to date (its
    upstream may have new data) or that did not exist yet (a dynamic partition a run just added).
    A part that was stale or missing stays so until it runs itself (unless an upstream re-run
    restored the very data it was built from), so it is not asked again: each ask loads the code."""

    def __init__(self, instance: dg.DagsterInstance, graph, keys: list[dg.AssetKey], profile: str | None = None):
        self.instance, self.graph, self.keys, self.profile = instance, graph, keys, profile
        self.statuses: dict[tuple[str, str | None], str] | None = None
        self.ran_since_asked = False

    def ran(self) -> None:
        self.ran_since_asked = True

    def needs_run(self, key: dg.AssetKey, partition_key: str | None) -> bool:
        part = (key.to_user_string(), partition_key)
        if latest_materialization(self.instance, key.to_user_string(), partition_key) is None:
            return True  # never materialized: Dagster's MISSING, known without asking (an empty instance asks nothing)
        if self.statuses is None or (self.ran_since_asked and self.statuses.get(part, "FRESH") == "FRESH"):
            self.statuses = {(s.key, s.partition): s.status for s in stale_statuses(self.graph, self.keys, profile=self.profile)}
            self.ran_since_asked = False
        if part not in self.statuses:
            raise RuntimeError(f"Dagster reports no status for {part[0]} partition {partition_key!r}")
        return self.statuses[part] != "FRESH"


def fresh_mark(instance: dg.DagsterInstance, graph, keys: list[dg.AssetKey]) -> dict:
    """Everything Dagster's staleness of `keys` depends on: each asset's code version, its partition
    keys, and the storage id of its latest materialization (any partition). Equal marks before and
    after mean Dagster's answer cannot have changed — no code, config or input-file edit (they are in
    the code versions), no run from the UI or CLI, no new or wiped partition — so a demo that saw
    everything up to date need not ask again (asking loads the code a second time, in a code server)."""
    mark = {}
    for key in keys:
        latest = latest_materialization(instance, key.to_user_string())
        mark[key.to_user_string()] = {
            "code_version": graph.get(key).code_version,
            "partitions": partition_keys(graph, key, instance),
            "latest_storage_id": latest.storage_id if latest else None,
        }
    return mark


def _mark_path(instance: dg.DagsterInstance) -> Path:
    return Path(instance.root_directory) / DEMO_LOGS / FRESH_MARK


def _groups(graph, keys: Iterable[dg.AssetKey]):
    """Consecutive asset keys with the same partitions definition."""
    return itertools.groupby(keys, key=lambda k: graph.get(k).partitions_def)


@contextlib.contextmanager
def _terminal_noise_to(log_path: Path | None) -> Iterator[None]:
    """Send what libraries print while assets run (progress bars, per-sample warnings, Dagster's
    console logger) to `log_path`, so the terminal keeps one line per run. Redirected at the file
    descriptor level: tqdm, nltk and C extensions write to fd 2 directly. Every event and log
    line is also in the instance (the UI's run pages)."""
    if log_path is None:
        yield
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_path, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def run_demo(force: bool = False, selection: list[str] | None = None, verbose: bool = False,
             profile: str | None = None) -> int:
    """Materialize what is stale under `profile` (a name or YAML path; default $LUTH_PROFILE, else local)."""
    from luth_pipeline.definitions import build_definitions

    defs = build_definitions(profile)
    instance = dg.DagsterInstance.get()
    # Beside the instance, not in its logs/ folder: Dagster treats that one as its telemetry queue.
    log_dir = Path(instance.root_directory) / DEMO_LOGS
    log_path = None if verbose else log_dir / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.log"
    graph = defs.resolve_asset_graph()
    assets = list(defs.assets or [])
    asset_checks = list(defs.asset_checks or [])
    wanted = materializable_keys(graph)
    if selection:
        check_names("asset", selection, [k.to_user_string() for k in wanted])
        wanted = [k for k in wanted if k.to_user_string() in selection]
    started = time.monotonic()
    ran, skipped, failed = 0, 0, []
    full = not force and not selection
    mark_path = _mark_path(instance)
    if full and mark_path.exists() and json.loads(mark_path.read_text()) == (mark := fresh_mark(instance, graph, wanted)):
        skipped = sum(len(part["partitions"]) for part in mark.values())
        print("Nothing changed since the last demo left every asset up to date "
              "(same code versions, partitions and materializations).", flush=True)
        print_summary(instance, graph, wanted, time.monotonic() - started, 0, skipped)
        return 0
    mark_path.unlink(missing_ok=True)
    staleness = _Staleness(instance, graph, wanted, profile)
    for _, group in _groups(graph, wanted):
        group = list(group)
        for partition_key in partition_keys(graph, group[0], instance):
            todo = [k for k in group if force or staleness.needs_run(k, partition_key)]
            skipped += len(group) - len(todo)
            if not todo:
                continue
            label = ", ".join(k.to_user_string() for k in todo) + (f" [{partition_key}]" if partition_key else "")
            print(f"▶ {label}", flush=True)
            t0 = time.monotonic()
            with _terminal_noise_to(log_path):
                result = dg.materialize(
                    assets=assets + asset_checks,
                    resources=defs.resources,
                    selection=todo,
                    partition_key=partition_key,
                    instance=instance,
                    raise_on_error=False,
                    tags={"luth/launched_by": "make demo"},
                )
            staleness.ran()
            if result.success:
                ran += len(todo)
                print(f"  ✓ {time.monotonic() - t0:.1f}s", flush=True)
            else:
                failed.append(label)
                if log_path is not None:
                    print(f"{_tail(log_path)}\n  (full log: {log_path})", flush=True)
                print(f"  ✗ failed: see `make ui` → Runs → {result.run_id}", flush=True)
                break
        if failed:
            break
    if full and not failed:  # every part was up to date or ran after its upstream: all up to date now
        mark_path.parent.mkdir(parents=True, exist_ok=True)
        mark_path.write_text(json.dumps(fresh_mark(instance, graph, wanted)))
    print_summary(instance, graph, wanted, time.monotonic() - started, ran, skipped)
    if log_path is not None and log_path.exists():
        print(f"Library output of these runs (progress bars, warnings): {log_path}")
    return 1 if failed else 0


def print_summary(instance, graph, keys, elapsed: float, ran: int, skipped: int) -> None:
    print(f"\n{'asset':<24} {'partitions':>10} {'rows':>10}  output")
    for key in keys:
        records = instance.fetch_materializations(key, limit=50).records
        latest: dict[str | None, dg.AssetMaterialization] = {}
        for record in records:
            mat = record.asset_materialization
            latest.setdefault(mat.partition, mat)
        rows = sum(int(m.metadata["dagster/row_count"].value) for m in latest.values() if "dagster/row_count" in m.metadata)
        paths = {str(m.metadata["path"].value) for m in latest.values() if "path" in m.metadata}
        where = next(iter(sorted(paths)), "")
        if len(paths) > 1:
            where = where.rsplit("/", 2)[0] + "/…"
        print(f"{key.to_user_string():<24} {len(latest):>10} {rows if rows else '':>10}  {where}")
    print(f"\n{ran} asset run(s), {skipped} up to date, {elapsed:.0f}s.")
    report = _eval_report_file(instance)
    if report is not None:
        print(f"Eval report (base vs fine-tuned vs merges vs published Luth): {report} (+ scores.png)")
    print("Open the UI on this instance with `make ui`, then http://127.0.0.1:3000 (Assets → Global asset lineage).")


def _eval_report_file(instance) -> Path | None:
    record = latest_materialization(instance, "eval_report")
    if record is None or "path" not in record.asset_materialization.metadata:
        return None
    report = Path(str(record.asset_materialization.metadata["path"].value)).parent / "report.md"
    return report if report.exists() else None
