"""A planted API key reaches the LLM server and nowhere else: not the run's logs, the compute
logs, the event log, the asset metadata, the datasets or the response cache.

The key travels the production way: an environment variable, bound by the definitions'
`LLMClientResource` through `dg.EnvVar`, in a real `dagster asset materialize` run (step
subprocesses, captured compute logs, SQLite instance on disk). The loopback server echoes the
key back in a 500 error on each request's first attempt, as misconfigured gateways do, so the
client's retry path logs errors that contain it unless they are masked.
"""

from __future__ import annotations

import subprocess
import threading

import dagster as dg
import polars as pl
import pytest
import yaml

from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline_tests.defs.tulu.test_resume_after_sigkill import _translations
from luth_pipeline_tests.e2e.conftest import write_local_instance
from luth_pipeline_tests.e2e.servers import VENV_BIN, dagster_env
from luth_pipeline_tests.servers import OpenAIChatServer, Reply

KEY = "sk-planted-7f3c9e1d-DO-NOT-LEAK"


def _profile(tmp_path, url: str):
    raw = {
        "extends": "local",
        "data_root": str(tmp_path / "data"),
        "llm": {"cache_dir": str(tmp_path / "llm_cache"), "fixture_caches": [],
                "endpoints": {"gateway": {"backend": "openai", "base_url": url + "/v1", "api_key_env": "OPENAI_API_KEY",
                                          "max_concurrency": 4, "timeout_s": 30, "backoff_initial_s": 0.01,
                                          "backoff_max_s": 0.05}}},
        "tulu": {"translate": {"endpoint": "gateway", "model": "Qwen/Qwen3-32B", "max_tokens": 1024}},
    }
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _files_containing(root, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_planted_key_is_used_but_never_stored_or_logged(tmp_path):
    translations = _translations()
    seen, doomed, lock = set(), set(), threading.Lock()

    def gateway(request):
        with lock:
            first_attempt = request.prompt not in seen
            seen.add(request.prompt)
            if len(doomed) < 2 and first_attempt:
                doomed.add(request.prompt)  # these two fail on every attempt (2/44 < max_failure_rate)
        if first_attempt or request.prompt in doomed:  # a gateway that echoes the caller's key in its errors
            return Reply(status=500, json={"error": {"message": f"upstream failed for api key {KEY}", "type": "server_error"}})
        english = request.prompt.split("PROMPT TO TRANSLATE:\n", 1)[-1]
        return translations.get(english, "Écris un court poème sur la mer, en quatre vers au plus.")

    home = write_local_instance(tmp_path / "dagster_home")
    with OpenAIChatServer(reply_fn=gateway) as server:
        env = dagster_env(home, _profile(tmp_path, server.url), {"OPENAI_API_KEY": KEY})
        run = subprocess.run([str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "luth_pipeline.definitions",
                              "--select", "tulu_prompts,tulu_prompts_fr"], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=480)
        requests = list(server.requests)
    assert run.returncode == 0, run.stderr[-4000:]

    # The key was really used, and the key-echoing errors really happened (then were retried).
    assert requests and all(r.header("authorization") == f"Bearer {KEY}" for r in requests)
    attempts = 1 + 5  # first try + llm.endpoints.gateway.max_retries (default 5)
    assert len(seen) == 44 and len(requests) == 2 * 42 + attempts * 2
    assert run.stderr.count("LLM request failed") == 2 and "***" in run.stderr, "the failures were logged, masked"
    rejects = pl.read_parquet(tmp_path / "data" / "tulu_prompts_fr" / "_all" / "rejects.parquet")
    errors = rejects.filter(pl.col("reason") == "llm_error")["detail"].to_list()
    assert len(errors) == 2 and all("upstream failed for api key ***" in e for e in errors), errors

    # ... and it is nowhere: terminal output, instance (event log, runs, compute logs), data, cache.
    assert KEY not in run.stdout + run.stderr
    for root in (home, tmp_path / "data", tmp_path / "llm_cache"):
        assert root.exists() and any(root.rglob("*")), f"{root} is empty: nothing was checked"
        assert _files_containing(root, KEY.encode()) == [], f"the key was written under {root}"
    assert any(p.suffix in {".err", ".out", ".complete"} or "compute_logs" in str(p) for p in home.rglob("*")), \
        "no compute logs were captured: the check above covered less than it claims"

    with dg.DagsterInstance.from_config(str(home)) as instance:
        materialization = instance.fetch_materializations(dg.AssetKey("tulu_prompts_fr"), limit=1).records[0]
        metadata = str(materialization.asset_materialization.metadata)
        assert "llm/translate/retries" in metadata and KEY not in metadata
