"""`tulu_prompts_fr` killed with SIGKILL mid-run, then restarted: no answered request is sent
again, and the stage ends with every row. The stage runs in a subprocess (a real Dagster
materialization) against the loopback OpenAI server living in this test process."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import yaml

from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.demo_data import DEMO_DATA
from luth_pipeline_tests.conftest import FIXTURES
from luth_pipeline_tests.servers import OpenAIChatServer, Reply

KEY = "sk-resume-test-SECRET-77"
ANSWERED_BEFORE_KILL = 15

CHILD = textwrap.dedent("""
    import sys, dagster as dg
    from luth_pipeline.resources import LuthConfig, LuthStorage
    from luth_pipeline.resources.llm import LLMClientResource
    from luth_pipeline_tests.stage_defs import assets
    profile, data = sys.argv[1], sys.argv[2]
    tulu_prompts, tulu_prompts_fr = assets("tulu_prompts", "tulu_prompts_fr", profile=profile)
    result = dg.materialize([tulu_prompts, tulu_prompts_fr], resources={
        "luth_config": LuthConfig(profile=profile), "luth_storage": LuthStorage(root=data),
        "llm": LLMClientResource(openai_api_key=dg.EnvVar("OPENAI_API_KEY"))})
    sys.exit(0 if result.success else 1)
""")


def _translations() -> dict[str, str]:
    """English prompt → the reference French translation (a perfect loopback translator)."""
    english = {}
    for name in ("tulu-3-sft-personas-instruction-following", "tulu-3-sft-personas-math"):
        for line in (DEMO_DATA / "tulu" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            english[row["id"]] = row["prompt"]
    out = {}
    for line in (FIXTURES / "tulu" / "french_reference.jsonl").read_text(encoding="utf-8").splitlines():
        ref = json.loads(line)
        if ref["prompt_fr"]:
            out[english[ref["source_id"]]] = ref["prompt_fr"]
    return out


def _profile(tmp_path, url: str):
    raw = yaml.safe_load((REPO_ROOT / "configs/profiles/local.yaml").read_text(encoding="utf-8"))
    raw["llm"] = {"cache_dir": str(tmp_path / "llm_cache"), "fixture_caches": [], "progress_every_s": 1,
                  "endpoints": {"loop": {"backend": "openai", "base_url": url + "/v1", "api_key_env": "OPENAI_API_KEY",
                                         "max_concurrency": 4, "timeout_s": 30, "backoff_initial_s": 0.05}}}
    raw["tulu"]["translate"] = {"endpoint": "loop", "model": "Qwen/Qwen3-32B", "max_tokens": 1024}
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _cached_rows(db) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_sigkill_mid_stage_then_restart_sends_no_answered_request_twice(tmp_path):
    translations = _translations()
    lock, release = threading.Lock(), threading.Event()
    answered_before, requested_after = [], []

    def translate(prompt: str) -> str:
        english = prompt.split("PROMPT TO TRANSLATE:\n", 1)[-1]
        return translations.get(english, "Compose une courte histoire du soir sur un hérisson timide qui apprend à se "
                                         "faire des amis. Ta réponse doit compter moins de 150 mots.")

    def before_kill(request):
        with lock:
            if len(answered_before) < ANSWERED_BEFORE_KILL:
                answered_before.append(request.prompt)
                return translate(request.prompt)
        release.wait(30)  # in flight when the process dies: never answered
        return Reply(status=503, json={"error": {"message": "gone"}})

    def after_restart(request):
        with lock:
            requested_after.append(request.prompt)
        return translate(request.prompt)

    with OpenAIChatServer(reply_fn=before_kill, latency_s=0.01) as server:
        profile = _profile(tmp_path, server.url)
        env = {**os.environ, "LUTH_PROFILE": str(profile), "OPENAI_API_KEY": KEY, "DAGSTER_HOME": str(tmp_path / "dh")}
        (tmp_path / "dh").mkdir()
        args = [sys.executable, "-c", CHILD, str(profile), str(tmp_path / "data")]
        child = subprocess.Popen(args, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        db = tmp_path / "llm_cache" / "responses.sqlite"
        deadline = time.monotonic() + 120
        while _cached_rows(db) < ANSWERED_BEFORE_KILL:
            assert child.poll() is None, child.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the stage never got going"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        release.set()
        assert child.returncode == -signal.SIGKILL
        assert _cached_rows(db) == ANSWERED_BEFORE_KILL  # every answered request survived the kill

        server.reply_fn = after_restart
        rerun = subprocess.run(args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]

    assert not set(answered_before) & set(requested_after), "an answered request was sent again"
    assert len(requested_after) == len(set(requested_after)) == 44 - ANSWERED_BEFORE_KILL
    import polars as pl

    out = pl.read_parquet(tmp_path / "data" / "tulu_prompts_fr" / "_all" / "data.parquet")
    assert out.height == 44 and out["source_id"].n_unique() == 44
    assert KEY not in rerun.stdout + rerun.stderr  # the key never reaches the run's logs
