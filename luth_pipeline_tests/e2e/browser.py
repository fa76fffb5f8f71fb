"""Driving the Dagster web UI in Debian's headless Chromium (Playwright): the browser flags and the
page settings that keep Dagster's pop-ups out of the way. Shared by the web-UI e2e test and
docs/screenshots/take_screenshots.py, so the screenshots come from the same browser set-up the test checks.
"""

from __future__ import annotations

import json

from luth_pipeline_tests.e2e.servers import graphql

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]

# Dagster's "Join the Dagster community" dialog (Slack, newsletter) opens over the page on an
# instance's first visit and swallows clicks, at a moment that depends on load. It is switched off
# before the browser opens, both where the webserver keeps it (the instance's "nux seen" flag) and
# where the page keeps it (localStorage `communityNux`, which the dialog's Skip button sets).
NO_POPUPS = "localStorage.setItem('communityNux', JSON.stringify('1'));"


def disable_community_dialog(port: int) -> None:
    graphql(port, "mutation { setNuxSeen }")
    shown = graphql(port, "{ shouldShowNux }")["shouldShowNux"]
    assert shown is False, "the webserver would still open its community dialog"


def expand_groups_script(groups: list[str]) -> str:
    """An init script opening these asset groups in the global graph (the UI keeps them in localStorage)."""
    expanded = json.dumps({"expanded": ",".join(f"global@global:{g}" for g in groups)})
    return f"localStorage.setItem('asset-graph-open-graph-nodes-global-__GLOBAL__', {json.dumps(expanded)});"
