"""The README's web-UI screenshots, taken from the instance a demo run filled.

    make demo && make screenshots        (or: DAGSTER_HOME=... python docs/screenshots/take_screenshots.py)

Starts `dagster dev` on that instance ($DAGSTER_HOME) on a free loopback port, opens it in headless
Chromium (Playwright, the browser set-up of the web-UI e2e test) and writes into docs/screenshots/:

    asset-graph.png    the global asset graph, every group open, zoomed to fit, cropped to what is drawn;
                       every node shows its latest materialization
    asset-page.png     an asset's Overview tab: row count, columns, its whole metadata table, a plot in place
    launch-dialog.png  Materialize on a partitioned asset with one partition picked, the dialog at rest
    asset-checks.png   an asset's Checks tab with every check's result

then stops `dagster dev` (SIGTERM, as `make ui` gets it). `--port` uses a `dagster dev` already serving
the instance instead (e.g. `make ui`). It launches nothing (the dialog
is cancelled), so it can be re-run at will. Every wait is on a state of the page, not a delay;
animations are off (reduced motion and a style override) so no picture catches a dialog mid-fade.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script from anywhere: the browser helpers live in luth_pipeline_tests

from luth_pipeline_tests.e2e.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_POPUPS,
    disable_community_dialog,
    expand_groups_script,
)
from luth_pipeline_tests.e2e.servers import Process, free_port, location_loaded, wait_for  # noqa: E402

OUT = Path(__file__).resolve().parent
VIEWPORT = {"width": 1600, "height": 1000}
# Wide enough (with the navigation bar folded) that zoom-to-fit draws full nodes (latest event, checks,
# partitions); zoomed further out, the UI draws bare boxes with abbreviated names.
GRAPH_VIEWPORT = {"width": 2800, "height": 1100}
GRAPH_MARGIN = 24
NAV_FOLDED = "localStorage.setItem('dagster-nav-collapsed', 'true');"
# Tall enough for the whole Overview tab of an asset page (status, columns, metadata), cropped to its content.
ASSET_PAGE_VIEWPORT = {"width": 1600, "height": 3200}
# Above this, a picture is re-encoded as a 256-colour palette PNG: the README shows them side by side,
# and undithered UI text stays sharp in a palette.
MAX_BYTES = 250_000
STOP_TIMEOUT = 90

# Transitions and animations finish at once: a picture is taken of the page at rest.
NO_ANIMATIONS = """
document.addEventListener('DOMContentLoaded', () => {
  const style = document.createElement('style');
  style.textContent = '*, *::before, *::after { transition: none !important; animation: none !important; }';
  document.head.appendChild(style);
});
"""

# Opacity of an element as drawn: the product of its own and its ancestors' opacities, and whether
# any of them is still transformed (Blueprint's dialogs scale in while they fade in).
AT_REST = """el => {
  let opacity = 1, moving = false;
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const style = getComputedStyle(n);
    opacity *= parseFloat(style.opacity);
    moving = moving || (style.transform !== 'none' && style.transform !== 'matrix(1, 0, 0, 1, 0, 0)');
  }
  return opacity === 1 && !moving;
}"""


def settled(read, what: str, timeout: float = 30):
    """Wait until `read()` gives the same non-empty value three times in a row (a layout that has stopped moving)."""
    seen: list = []

    def same_three_times():
        seen.append(read())
        return seen[-1] and len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]

    wait_for(same_three_times, timeout, what, interval=0.3)
    return seen[-1]


def check_instance(graph, assets: list[str]) -> None:
    """Every asset of the definitions (and the ones pictured) has been materialized on this instance."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        never = [k.to_user_string() for k in graph.get_all_asset_keys()
                 if graph.get(k).is_materializable and instance.get_latest_materialization_event(k) is None]
    if never:
        sys.exit(f"{len(never)} assets never materialized on the instance in $DAGSTER_HOME={os.environ['DAGSTER_HOME']} "
                 f"({', '.join(sorted(never))}): run `make demo` first.")
    unknown = [a for a in assets if not graph.has(dg.AssetKey.from_user_string(a))]
    if unknown:
        sys.exit(f"unknown asset(s) {unknown}; known: {sorted(k.to_user_string() for k in graph.get_all_asset_keys())}")


def start_dagster_dev(log: Path) -> tuple[Process, int]:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", DAGSTER_DISABLE_TELEMETRY="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    # From inside the instance folder, as `make ui` does: Dagster warns when the current folder holds
    # a dagster.yaml (the repo's template) other than $DAGSTER_HOME's.
    process = Process([str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"),
                       "-h", "127.0.0.1", "-p", str(port)], log, env, cwd=Path(os.environ["DAGSTER_HOME"]))
    try:
        wait_for(lambda: location_loaded(port), 300, "dagster dev to load the code location", interval=1, process=process)
    except BaseException:
        process.stop(signal.SIGKILL)
        raise
    return process, port


def stop_dagster_dev(process: Process) -> None:
    """SIGTERM to `dagster dev` alone (what `make ui` gets from a terminal or process manager): it stops its
    webserver, daemon and code servers itself. Whatever of its process group is left after that is killed."""
    started = time.monotonic()
    process.proc.send_signal(signal.SIGTERM)
    try:
        process.proc.wait(timeout=STOP_TIMEOUT)
        wait_for(lambda: not group_alive(process.proc.pid), STOP_TIMEOUT, "dagster dev's child processes to exit")
        print(f"dagster dev stopped ({time.monotonic() - started:.0f} s after SIGTERM)", flush=True)
    except (subprocess.TimeoutExpired, TimeoutError):
        print(f"dagster dev still running {STOP_TIMEOUT} s after SIGTERM: killing its process group", file=sys.stderr)
        if group_alive(process.proc.pid):
            os.killpg(process.proc.pid, signal.SIGKILL)
    process.stop()  # closes its log (nothing left to signal)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def shrink(path: Path) -> None:
    """Re-encode as a 256-colour palette PNG (no dithering, so text stays crisp) when over MAX_BYTES."""
    from PIL import Image

    if path.stat().st_size <= MAX_BYTES:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        print(f"warning: {path.name} is {path.stat().st_size // 1000} KB even as a palette PNG", file=sys.stderr)


def asset_graph(page, base: str, keys: list[str], path: Path) -> None:
    page.goto(f"{base}/asset-groups", wait_until="networkidle")
    nodes = page.locator("foreignObject:has([class*=AssetNode_assetName])")
    names = nodes.locator("[class*=AssetNode_assetName]")
    drawn = lambda: {t.strip() for t in names.all_text_contents()}  # noqa: E731
    wait_for(lambda: set(keys) <= drawn(), 60, f"every asset drawn in full in the graph (missing: {set(keys) - drawn()})")
    # Each node's "Latest event" links the run that materialized it once the statuses have loaded.
    materialized = nodes.filter(has=page.locator('a[href^="/runs/"]'))
    wait_for(lambda: materialized.count() >= len(keys), 60, "every node of the graph to show its latest materialization")
    # zoom-to-fit has run when the nodes stop moving
    settled(lambda: [tuple(b.values()) for b in (n.bounding_box() for n in names.all()) if b], "the graph to stop moving")
    # Cropped to the drawn graph (groups and nodes), without the empty canvas around it.
    boxes = [b for b in (o.bounding_box() for o in page.locator("svg foreignObject").all()) if b and b["width"] > 0]
    left, top = min(b["x"] for b in boxes) - GRAPH_MARGIN, min(b["y"] for b in boxes) - GRAPH_MARGIN
    right = max(b["x"] + b["width"] for b in boxes) + GRAPH_MARGIN
    bottom = max(b["y"] + b["height"] for b in boxes) + GRAPH_MARGIN
    page.screenshot(path=str(path), clip={"x": left, "y": top, "width": right - left, "height": bottom - top})


def asset_page(page, base: str, asset: str, path: Path) -> None:
    """The Overview tab from the status line (row count) through the columns to the end of the metadata table."""
    from playwright.sync_api import expect

    page.goto(f"{base}/assets/{asset}", wait_until="networkidle")
    expect(page.get_by_text("Row count", exact=True).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Column name", exact=True).first).to_be_visible(timeout=30_000)
    plot = page.locator('tr img[src^="data:image/png;base64,"]').first
    expect(plot).to_be_visible(timeout=30_000)
    wait_for(lambda: plot.evaluate("i => i.complete && i.naturalWidth > 0"), 30, "the plot thumbnail to be decoded")
    table = plot.locator("xpath=ancestor::table[1]")
    bottom = settled(lambda: round(table.bounding_box()["y"] + table.bounding_box()["height"]), "the page layout to settle")
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": page.viewport_size["width"], "height": bottom + 24})


def launch_dialog(page, base: str, asset: str, partition: str, path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/assets/{asset}", wait_until="networkidle")
    page.get_by_role("button", name="Materialize").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem").filter(has_text=partition).first.click()
    dialog.get_by_text("Launch runs to materialize").click()  # closes the partition menu
    expect(page.get_by_role("menuitem")).to_have_count(0)
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    wait_for(lambda: dialog.evaluate(AT_REST), 30, "the launch dialog to be opaque and in place")
    page.screenshot(path=str(path))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)


def asset_checks(page, base: str, asset: str, checks: list[str], path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/assets/{asset}?view=checks", wait_until="networkidle")
    for check in checks:
        expect(page.get_by_text(check, exact=True).first).to_be_visible(timeout=30_000)
    # the selected check's latest execution has loaded
    expect(page.get_by_text("Evaluation result", exact=True)).to_be_visible(timeout=30_000)
    page.screenshot(path=str(path))


def take(browser, viewport: dict, scripts: list[str], shoot, log: Path) -> None:
    """One picture in a fresh browser context (its own window size and localStorage)."""
    context = browser.new_context(viewport=viewport, reduced_motion="reduce")
    for script in (NO_POPUPS, NO_ANIMATIONS, *scripts):
        context.add_init_script(script)
    page = context.new_page()
    try:
        shoot(page)
    except Exception:
        failure = log.with_suffix(".failure.png")
        page.screenshot(path=str(failure))
        print(f"failed; the page as it was: {failure}", file=sys.stderr)
        raise
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs (default: %(default)s)")
    parser.add_argument("--port", type=int, help="use the dagster dev already serving $DAGSTER_HOME on this port "
                                                 "(e.g. `make ui`) instead of starting one")
    parser.add_argument("--page-asset", default="french_samples", help="the asset whose page is pictured")
    parser.add_argument("--launch-asset", default="french_samples", help="a partitioned asset for the launch dialog")
    parser.add_argument("--checks-asset", default="luth_sft", help="the asset whose checks are pictured")
    args = parser.parse_args()
    os.environ.setdefault("DAGSTER_HOME", str(REPO / ".dagster_home"))

    import dagster as dg
    from playwright.sync_api import sync_playwright

    from luth_pipeline.definitions import defs

    graph = defs().resolve_asset_graph()
    check_instance(graph, [args.page_asset, args.launch_asset, args.checks_asset])
    keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable)
    groups = sorted({graph.get(dg.AssetKey.from_user_string(k)).group_name for k in keys})
    launch_node = graph.get(dg.AssetKey.from_user_string(args.launch_asset))
    if launch_node.partitions_def is None:
        sys.exit(f"--launch-asset {args.launch_asset} is not partitioned: pick one that is (e.g. french_samples)")
    partition = launch_node.partitions_def.get_partition_keys()[0]
    checks = sorted(c.name for c in graph.get(dg.AssetKey.from_user_string(args.checks_asset)).check_keys)
    if not checks:
        sys.exit(f"--checks-asset {args.checks_asset} has no asset checks")

    args.out.mkdir(parents=True, exist_ok=True)
    log = Path(os.environ["DAGSTER_HOME"]) / "luth-screenshots-logs" / f"dagster-dev-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if args.port:
        process, port = None, args.port
        if not location_loaded(port):
            sys.exit(f"nothing serves a loaded code location on 127.0.0.1:{port}")
    else:
        print(f"starting dagster dev on $DAGSTER_HOME={os.environ['DAGSTER_HOME']} (log: {log})", flush=True)
        process, port = start_dagster_dev(log)
    base = f"http://127.0.0.1:{port}"
    shots = {name: args.out / f"{name}.png" for name in ("asset-graph", "asset-page", "launch-dialog", "asset-checks")}
    try:
        disable_community_dialog(port)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                take(browser, GRAPH_VIEWPORT, [NAV_FOLDED, expand_groups_script(groups)],
                     lambda page: asset_graph(page, base, keys, shots["asset-graph"]), log)
                take(browser, ASSET_PAGE_VIEWPORT, [],
                     lambda page: asset_page(page, base, args.page_asset, shots["asset-page"]), log)
                take(browser, VIEWPORT, [],
                     lambda page: launch_dialog(page, base, args.launch_asset, partition, shots["launch-dialog"]), log)
                take(browser, VIEWPORT, [],
                     lambda page: asset_checks(page, base, args.checks_asset, checks, shots["asset-checks"]), log)
            finally:
                browser.close()
    finally:
        if process is not None:
            stop_dagster_dev(process)
    for path in shots.values():
        shrink(path)
        print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {path.stat().st_size // 1000} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
