"""`luth status`: which assets (and partitions) are missing or stale in the instance, and why.

Dagster decides staleness from what the instance recorded: an asset is STALE when its code
version (our stage fingerprint) changed since it was materialized, or an upstream asset has
newer data; MISSING when it was never materialized. Dagster publishes that answer (the UI's
"Unsynced" badges and their root causes) through its GraphQL API, so we ask it there, with
Dagster's public `dagster-graphql` CLI: it loads the definitions in a code server, as
`dagster dev` does, and answers from the instance at $DAGSTER_HOME. With `--url`, a running
webserver (`make ui`) answers instead, for the code it has loaded, without that extra load.
The causes are printed verbatim.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from luth_pipeline.core.suggest import check_names

DEFINITIONS_MODULE = "luth_pipeline.definitions"

# One request for every asset asked about. Partitioned assets answer per partition (all of
# them, in `partitionKeys` order), the others once: the per-partition fields exist only on
# partitioned assets (elsewhere Dagster answers with an error, and the CLI stops on any error).
STALENESS_QUERY = """
query LuthStaleness($partitioned: [AssetKeyInput!], $unpartitioned: [AssetKeyInput!]) {
  workspaceOrError {
    ... on Workspace { locationEntries { locationOrLoadError { ... on PythonError { message causes { message } } } } }
  }
  partitioned: assetNodes(assetKeys: $partitioned) {
    assetKey { path }
    partitionKeys
    staleStatusByPartition
    staleCausesByPartition { ...cause }
  }
  unpartitioned: assetNodes(assetKeys: $unpartitioned) {
    assetKey { path }
    staleStatus
    staleCauses { ...cause }
  }
}
fragment cause on StaleCause {
  key { path }
  partitionKey
  reason
  dependency { path }
  dependencyPartitionKey
}
"""


@dataclass
class AssetStatus:
    key: str
    partition: str | None
    status: str  # FRESH | STALE | MISSING
    causes: list[str]


def dagster_graphql(query: str, variables: dict, module: str = DEFINITIONS_MODULE, url: str | None = None,
                    profile: str | None = None) -> dict:
    """Run `query` on Dagster's GraphQL API: on the webserver at `url` when given (its /graphql
    endpoint, the one the UI uses), else through the `dagster-graphql` CLI against the
    definitions in `module` and the instance at $DAGSTER_HOME. Its `data`, or an error with
    Dagster's own message. `profile` (a name or YAML path) is the one the CLI's code server loads
    the definitions with (default: $LUTH_PROFILE, else local)."""
    result = _post(url, query, variables) if url else _run_cli(query, variables, module, profile)
    if result.get("errors"):
        raise RuntimeError("Dagster GraphQL: " + "; ".join(e.get("message", str(e)) for e in result["errors"]))
    return result["data"]


def _run_cli(query: str, variables: dict, module: str, profile: str | None = None) -> dict:
    exe = shutil.which("dagster-graphql", path=str(Path(sys.executable).parent)) or shutil.which("dagster-graphql")
    if exe is None:
        raise RuntimeError("the `dagster-graphql` command is missing: install dagster-graphql (it comes with dagster-webserver)")
    with tempfile.TemporaryDirectory(prefix="luth-graphql-") as tmp:
        result_path, log_path = Path(tmp) / "result.json", Path(tmp) / "log.txt"
        # Answer and logs go to files, not pipes: the code server the CLI starts inherits its
        # stdout/stderr and winds down after the answer; reading pipes would wait for it to exit.
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.run([exe, "-m", module, "-t", query, "-v", json.dumps(variables), "-o", str(result_path)],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=_env_with_profile(profile))
        if proc.returncode != 0 or not result_path.exists():
            logs = log_path.read_text(encoding="utf-8", errors="replace")
            raise RuntimeError(f"dagster-graphql failed (exit {proc.returncode}):\n{logs[-3000:]}")
        return json.loads(result_path.read_text(encoding="utf-8"))


def _env_with_profile(profile: str | None) -> dict[str, str]:
    """This process's environment, with LUTH_PROFILE naming `profile` (so the code server builds the
    same definitions as the caller) when one is given."""
    from luth_pipeline.core.config import profile_path

    return {**os.environ, "LUTH_PROFILE": str(profile_path(profile))} if profile else dict(os.environ)


def _post(url: str, query: str, variables: dict) -> dict:
    request = urllib.request.Request(url.rstrip("/") + "/graphql", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"query": query, "variables": variables}).encode())
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # it answered, but not with GraphQL (another server, a proxy?)
        raise RuntimeError(f"{url}/graphql answered HTTP {error.code}: {error.read()[:500]!r}") from error
    except urllib.error.URLError as error:
        raise RuntimeError(f"no Dagster webserver answers at {url} ({error.reason}): start one with `make ui`, "
                           "or leave out --url") from error


def _describe(cause: dict) -> str:
    where = dg.AssetKey(cause["key"]["path"]).to_user_string()
    if cause["partitionKey"]:
        where += f"[{cause['partitionKey']}]"
    dep = ""
    if cause["dependency"] is not None:
        dep = f" ({dg.AssetKey(cause['dependency']['path']).to_user_string()}"
        dep += f"[{cause['dependencyPartitionKey']}])" if cause["dependencyPartitionKey"] else ")"
    return f"{where}: {cause['reason']}{dep}"


def _status(key: str, partition: str | None, status: str, causes: list[dict]) -> AssetStatus:
    return AssetStatus(key, partition, status, [_describe(c) for c in causes] if status == "STALE" else [])


def stale_statuses(graph, keys: list[dg.AssetKey], module: str = DEFINITIONS_MODULE, url: str | None = None,
                   profile: str | None = None) -> list[AssetStatus]:
    """Dagster's staleness (the UI's "Unsynced") of every partition of `keys`, in that order, with
    the root causes of what is stale: one GraphQL request for all of them (`dagster_graphql`).
    `graph` (the same definitions, loaded here) says which assets are partitioned."""
    partitioned = [k for k in keys if graph.get(k).partitions_def is not None]
    unpartitioned = [k for k in keys if graph.get(k).partitions_def is None]
    data = dagster_graphql(STALENESS_QUERY, {"partitioned": [{"path": k.path} for k in partitioned],
                                             "unpartitioned": [{"path": k.path} for k in unpartitioned]}, module, url, profile)
    for entry in (data.get("workspaceOrError") or {}).get("locationEntries", []):
        error = entry.get("locationOrLoadError") or {}
        if error.get("message"):  # a PythonError: the definitions did not load
            messages = [error["message"], *(cause["message"] for cause in error.get("causes") or [])]
            raise RuntimeError(f"{module} did not load in Dagster's code server:\n" + "".join(messages).strip())
    by_key: dict[str, list[AssetStatus]] = {}
    for node in data["partitioned"]:
        key = dg.AssetKey(node["assetKey"]["path"]).to_user_string()
        by_key[key] = [_status(key, partition, status, causes) for partition, status, causes
                       in zip(node["partitionKeys"], node["staleStatusByPartition"], node["staleCausesByPartition"], strict=True)]
    for node in data["unpartitioned"]:
        key = dg.AssetKey(node["assetKey"]["path"]).to_user_string()
        by_key[key] = [_status(key, None, node["staleStatus"], node["staleCauses"])]
    unknown = [k.to_user_string() for k in keys if k.to_user_string() not in by_key]
    if unknown:
        raise RuntimeError(f"Dagster's GraphQL API reports no asset {unknown} for {module}")
    return [status for k in keys for status in by_key[k.to_user_string()]]


def materializable_keys(graph) -> list[dg.AssetKey]:
    """The assets a run can materialize, upstream first (what `luth status` lists and `luth demo` runs)."""
    return [k for level in graph.toposorted_asset_keys_by_level for k in sorted(level) if graph.get(k).is_materializable]


def asset_statuses(defs: dg.Definitions, selection: list[str] | None = None, url: str | None = None,
                   profile: str | None = None) -> list[AssetStatus]:
    graph = defs.resolve_asset_graph()
    keys = materializable_keys(graph)
    if selection:
        check_names("asset", selection, [k.to_user_string() for k in keys])
        keys = [k for k in keys if k.to_user_string() in selection]
    return stale_statuses(graph, keys, url=url, profile=profile)


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
