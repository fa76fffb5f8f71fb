"""The Dagster web UI in a real browser (Debian's headless Chromium driven by Playwright).

`dagster dev` serves the repo's workspace on a free loopback port against a temp instance. The
test opens the global asset graph and checks that every asset key of the definitions is drawn,
materializes one asset from its page (the Materialize button, partition picker included), waits
for the run to succeed, then checks that the asset page shows the metadata the stage attached
and its checks, with its plots drawn in place (no [Show Markdown] click). Screenshots of each step land in test-artifacts/ui/.
"""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from luth_pipeline_tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, NO_POPUPS, disable_community_dialog, expand_groups_script
from luth_pipeline_tests.e2e.conftest import graph_of_current_defs, write_local_instance, write_profile
from luth_pipeline_tests.e2e.servers import (
    REPO,
    VENV_BIN,
    Process,
    dagster_env,
    free_port,
    location_loaded,
    wait_for,
)

# The asset the test materializes from the UI: the first root of the graph (fixture data, seconds).
PREFERRED_ASSET = "raw_multilingual_dumps"


def _asset_to_launch(graph) -> dg.AssetKey:
    roots = [k for level in graph.toposorted_asset_keys_by_level for k in sorted(level)
             if graph.get(k).is_materializable and not graph.get(k).parent_keys]
    preferred = dg.AssetKey(PREFERRED_ASSET)
    return preferred if preferred in roots else roots[0]


def _materialize_from_ui(page, base, instance, graph, key, shots, step) -> dg.AssetMaterialization:
    """Click Materialize on the asset's page (picking the first partition if partitioned), wait for the run."""
    from playwright.sync_api import expect

    node = graph.get(key)
    known_runs = {r.run_id for r in instance.get_runs()}
    page.goto(f"{base}/assets/{key.to_user_string()}", wait_until="networkidle")
    page.get_by_role("button", name="Materialize").first.click()
    if node.partitions_def is not None:
        partition = node.partitions_def.get_partition_keys()[0]
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_role("menuitem").filter(has_text=partition).first.click()
        dialog.get_by_text("Launch runs to materialize").click()  # closes the partition menu
        expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
        page.screenshot(path=str(shots / f"{step}-launch-dialog.png"))
        dialog.get_by_role("button", name="Launch 1 run").click()
    new_runs = lambda: [r for r in instance.get_runs() if r.run_id not in known_runs]  # noqa: E731
    run = wait_for(new_runs, 60, f"the UI to launch a run of {key.to_user_string()}")[0]
    wait_for(lambda: instance.get_run_by_id(run.run_id).is_finished, 600, f"run {run.run_id} to finish", interval=1)
    final = instance.get_run_by_id(run.run_id)
    page.goto(f"{base}/runs/{run.run_id}", wait_until="networkidle")
    page.screenshot(path=str(shots / f"{int(step) + 1:02d}-run.png"))
    assert final.status == dg.DagsterRunStatus.SUCCESS, f"run {run.run_id} launched from the UI: {final.status}"
    assert key in (final.asset_selection or set())
    return instance.fetch_materializations(key, limit=1).records[0].asset_materialization


def _expect_inline_plot(page, materialization: dg.AssetMaterialization, screenshot) -> None:
    """The asset's plot thumbnails (`plot_metadata` entries) show as images on its page without a click."""
    from playwright.sync_api import expect

    metadata = materialization.metadata
    plots = [k for k in metadata if f"{k}_full" in metadata]
    assert plots, f"{materialization.asset_key.to_user_string()} attached no plot (plot_metadata entries)"
    for key in plots:
        row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
        image = row.locator('img[src^="data:image/png;base64,"]')
        expect(image).to_be_visible(timeout=30_000)
        # decoded by the browser, at the thumbnail's own size
        assert image.evaluate("i => i.complete && i.naturalWidth") > 0, f"{key}: the browser could not decode the image"
        full = page.locator("tr", has=page.get_by_text(f"{key}_full", exact=True)).first
        expect(full.get_by_text("[Show Markdown]")).to_be_visible()
        expect(full.locator("img")).to_have_count(0)
    # The rows from the one above the first plot to its `_full` entry (docs/screenshots/asset-page-plot.png;
    # the `_path` rows below would show this test's temporary folder).
    row = page.locator("tr", has=page.get_by_text(plots[0], exact=True)).first
    above = row.locator("xpath=preceding-sibling::tr[1]")
    above = above if above.count() else row
    full = page.locator("tr", has=page.get_by_text(f"{plots[0]}_full", exact=True)).first
    above.scroll_into_view_if_needed()
    top, bottom = above.bounding_box(), full.bounding_box()
    visible = row.locator("xpath=ancestor::table[1]/..").bounding_box()  # the table scrolls inside it
    page.screenshot(path=str(screenshot), clip={"x": top["x"], "y": top["y"], "width": min(top["width"], visible["width"]),
                                                "height": bottom["y"] + bottom["height"] - top["y"]})
    # one click away: the full-size plot in the [Show Markdown] dialog
    full.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog")
    large = dialog.locator('img[src^="data:image/png;base64,"]')
    expect(large).to_be_visible(timeout=30_000)
    thumbnail_width = row.locator("img").evaluate("i => i.naturalWidth")
    assert large.evaluate("i => i.complete && i.naturalWidth") > thumbnail_width
    dialog.screenshot(path=str(screenshot.with_name(screenshot.stem + "-full.png")))
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


@pytest.fixture
def dagster_dev(tmp_path):
    home = write_local_instance(tmp_path / "dagster_home")
    profile = write_profile(tmp_path / "ui.yaml", str(tmp_path / "data"))
    port = free_port()
    process = Process([str(VENV_BIN / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
                      tmp_path / "dagster_dev.log", dagster_env(home, profile))
    try:
        wait_for(lambda: location_loaded(port), 300, "dagster dev to load the code location", interval=1, process=process)
        yield port, home
    finally:
        process.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_asset_graph_and_materialize_from_the_ui(dagster_dev, artifacts_dir):
    from playwright.sync_api import expect, sync_playwright

    port, home = dagster_dev
    disable_community_dialog(port)
    graph = graph_of_current_defs()
    keys = sorted(k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_materializable)
    groups = sorted({graph.get(dg.AssetKey.from_user_string(k)).group_name for k in keys})
    assert keys, "the definitions have no assets"
    shots = artifacts_dir / "ui"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    base = f"http://127.0.0.1:{port}"

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        # Open every group in the graph (the UI keeps expanded groups in localStorage).
        context.add_init_script(expand_groups_script(groups))
        context.add_init_script(NO_POPUPS)
        page = context.new_page()
        try:
            # 1. The global asset graph draws every asset of the definitions. A wide viewport
            # keeps the zoom-to-fit level high enough for full nodes (zoomed out, the UI
            # abbreviates long names).
            page.set_viewport_size({"width": 3000, "height": 1400})
            page.goto(f"{base}/asset-groups", wait_until="networkidle")
            names = page.locator("foreignObject [class*=AssetNode_assetName]")
            drawn = lambda: set(t.strip() for t in names.all_text_contents())  # noqa: E731
            try:
                wait_for(lambda: set(keys) <= drawn(), 60, "every asset to be drawn in the asset graph")
            except TimeoutError:
                raise AssertionError(f"assets missing from the graph: {sorted(set(keys) - drawn())}") from None
            finally:
                page.screenshot(path=str(shots / "01-asset-graph.png"))
            page.set_viewport_size({"width": 1600, "height": 1000})
            # The catalog lists them too (a table, independent of graph layout).
            page.goto(f"{base}/assets", wait_until="networkidle")
            for key in keys:
                expect(page.get_by_text(key, exact=True).first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(shots / "02-catalog.png"))

            with dg.DagsterInstance.from_config(str(home)) as instance:
                # 2. Materialize the first root asset from its page, then check its page shows
                # what the stage attached: metadata entries, column schema, preview.
                target = _asset_to_launch(graph)
                materialization = _materialize_from_ui(page, base, instance, graph, target, shots, "03")
                page.goto(f"{base}/assets/{target.to_user_string()}?partition={materialization.partition or ''}",
                          wait_until="networkidle")
                shown = [k for k in materialization.metadata if not k.startswith("dagster/")]
                assert shown, f"{target.to_user_string()} attached no metadata of its own"
                for label in shown:
                    expect(page.get_by_text(label, exact=True).first).to_be_visible(timeout=30_000)
                if "dagster/column_schema" in materialization.metadata:
                    column = materialization.metadata["dagster/column_schema"].value.columns[0].name
                    expect(page.get_by_text(column, exact=True).first).to_be_visible(timeout=30_000)
                page.screenshot(path=str(shots / "05-asset-page.png"), full_page=True)

                # 3. A child of it with asset checks, materialized from the UI too: the checks
                # tab lists every check with its result.
                checked = [c for c in sorted(graph.get(target).child_keys) if graph.get(c).check_keys
                           and graph.get(c).partitions_def == graph.get(target).partitions_def]
                if checked:
                    child = checked[0]
                    child_materialization = _materialize_from_ui(page, base, instance, graph, child, shots, "06")
                    page.goto(f"{base}/assets/{child.to_user_string()}?view=checks", wait_until="networkidle")
                    for check in graph.get(child).check_keys:
                        expect(page.get_by_text(check.name, exact=True).first).to_be_visible(timeout=30_000)
                    page.screenshot(path=str(shots / "08-asset-checks.png"), full_page=True)
                    page.goto(f"{base}/assets/{child.to_user_string()}?partition={child_materialization.partition or ''}",
                              wait_until="networkidle")
                    page.screenshot(path=str(shots / "09-checked-asset-page.png"), full_page=True)

                    # 4. Its plot is drawn in place in the metadata table (no [Show Markdown] click),
                    # the full-size plot stays behind [Show Markdown].
                    _expect_inline_plot(page, child_materialization, shots / "10-inline-plot.png")
        except Exception:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
