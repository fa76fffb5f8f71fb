"""The `luth` console script, run as a user runs it: lineage, status, chat, generate, and the
errors that name what is missing and what to run."""

from __future__ import annotations

import json
import subprocess

import polars as pl
import pytest

from luth_pipeline_tests.e2e.conftest import write_local_instance, write_profile
from luth_pipeline_tests.e2e.servers import REPO, VENV_BIN, dagster_env

DATA_ASSETS = ["raw_multilingual_dumps", "french_samples", "tulu_prompts", "tulu_prompts_fr", "tulu_answers_fr",
               "scholar_pdfs", "scholar_extractions", "scholar_exercises", "luth_sft"]


def luth(env: dict, *args: str, stdin: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "luth"), *args], cwd=REPO, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """A fresh instance where the data stages (raw → luth_sft) were materialized by `luth demo`."""
    tmp = tmp_path_factory.mktemp("cli")
    home = write_local_instance(tmp / "dagster_home")
    profile = write_profile(tmp / "cli.yaml", str(tmp / "data"))
    env = dagster_env(home, profile)
    demo = luth(env, "demo", "--select", *DATA_ASSETS)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    return env, tmp / "data", profile


def _sft_row(data, parent_asset: str) -> str:
    rows = pl.read_parquet(data / "luth_sft" / "_all" / "data.parquet")
    return rows.filter(pl.col("parent_asset") == parent_asset)["id"][0]


def test_lineage_walks_a_french_row_back_to_its_raw_row_with_every_decision(instance):
    env, data, _ = instance
    row_id = _sft_row(data, "french_samples")
    out = luth(env, "lineage", row_id)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.index("luth_sft ·") < text.index("french_samples [") < text.index("raw_multilingual_dumps [")
    assert "french_probability:" in text and "filters_passed:" in text  # what the French filter decided
    assert "3 hop(s); raw row: raw_multilingual_dumps raw/" in text

    chain = json.loads(luth(env, "lineage", row_id, "--json").stdout)
    assert [hop["asset"] for hop in chain] == ["luth_sft", "french_samples", "raw_multilingual_dumps"]
    assert chain[1]["row"]["id"] == chain[0]["row"]["parent_id"] and chain[2]["row"]["id"] == chain[1]["row"]["parent_id"]
    raw = pl.read_parquet(data / "raw_multilingual_dumps" / chain[2]["partition"] / "data.parquet")
    assert raw.filter(pl.col("id") == chain[2]["row"]["id"]).height == 1  # the raw row really is there


def test_lineage_of_a_tulu_row_reaches_the_english_prompt(instance):
    env, data, _ = instance
    out = luth(env, "lineage", _sft_row(data, "tulu_answers_fr"), "--no-messages")
    assert out.returncode == 0, out.stderr
    assert "judge_verdict: True" in out.stdout and "prompt_en:" in out.stdout
    assert "4 hop(s); raw row: tulu_prompts" in out.stdout


def test_lineage_of_a_rejected_row_says_why(instance):
    env, data, _ = instance
    rejects = pl.read_parquet(data / "french_samples" / "smoltalk2" / "rejects.parquet")
    row = rejects.filter(pl.col("reason") == "not_french").row(0, named=True)
    out = luth(env, "lineage", row["id"], "--asset", "french_samples")
    assert out.returncode == 0, out.stderr
    assert "REJECTED (not_french)" in out.stdout


def test_lineage_errors_name_the_row_and_the_asset(instance):
    env, _, _ = instance
    missing = luth(env, "lineage", "sft/nope/0")
    assert missing.returncode == 2 and "no row with id 'sft/nope/0' in luth_sft" in missing.stderr
    never = luth(env, "lineage", "x", "--asset", "eval_report")
    assert never.returncode == 2 and "materialize eval_report first" in never.stderr
    assert "Traceback" not in missing.stderr + never.stderr


def test_lineage_of_a_scholar_row_reaches_the_exam_pdfs_and_pages(instance):
    env, data, _ = instance
    out = luth(env, "lineage", _sft_row(data, "scholar_exercises"), "--no-messages")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.index("scholar_exercises ·") < text.index("scholar_extractions ·") < text.index("scholar_pdfs ·")
    assert "sujet_page_start:" in text and "corrige_page_start:" in text  # the pages the exercise came from
    assert "sujet_location:" in text and "sujet_sha256:" in text  # the PDF itself
    assert "source: None" not in text and "4 hop(s); raw row: scholar_pdfs" in text


def test_unknown_names_exit_2_with_the_closest_valid_ones(instance):
    env, _, _ = instance
    for args in (["demo", "--select", "frnch_samples"], ["status", "--select", "frnch_samples"],
                 ["lineage", "x", "--asset", "frnch_samples"]):
        out = luth(env, *args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "unknown asset 'frnch_samples'; did you mean french_samples?" in out.stderr, out.stderr
        assert "▶" not in out.stdout  # nothing ran
    recipe = luth(env, "generate", "tiny.merged.slerp-999", "--prompt", "Bonjour")
    assert recipe.returncode == 2 and "'tiny.merged.slerp-999' is not a checkpoint of profile" in recipe.stderr
    assert "did you mean tiny.merged.slerp-" in recipe.stderr and "materialize" not in recipe.stderr


def test_a_reader_that_closes_the_pipe_early_stops_luth_quietly(instance):
    env, data, _ = instance
    proc = subprocess.Popen([str(VENV_BIN / "luth"), "lineage", _sft_row(data, "french_samples"), "--json"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head` that has seen enough, before luth writes anything
    stderr = proc.communicate(timeout=300)[1].decode()
    assert proc.returncode == 141 and stderr == "", stderr


def test_status_lists_what_is_missing_and_what_a_config_change_made_stale(instance, tmp_path):
    env, _, profile = instance
    out = luth(env, "status")
    assert out.returncode == 0, out.stderr
    assert "finetuned_checkpoint" in out.stdout and "never materialized" in out.stdout
    assert "luth_sft " not in out.stdout.split("\n\n")[0]  # up to date: not listed without --all

    changed = tmp_path / "changed.yaml"
    changed.write_text(profile.read_text() + "french:\n  min_chars: 25\n")
    stale = luth({**env, "LUTH_PROFILE": str(changed)}, "status", "--select", "french_samples", "luth_sft")
    assert stale.returncode == 0, stale.stderr
    assert "french_samples[smoltalk2]: has a new code version" in stale.stdout
    assert "4 stale" in stale.stdout  # the four source partitions; luth_sft follows once they re-run

    unknown = luth(env, "status", "--select", "not_an_asset")
    assert unknown.returncode == 2 and "not_an_asset" in unknown.stderr


def test_chat_streams_keeps_the_conversation_and_obeys_reset_and_system(instance):
    env, _, _ = instance
    script = "Bonjour !\nEt ensuite ?\n/reset\n/system Tu es un pirate.\nSalut\n/oops\n"
    out = luth(env, "chat", "tiny.base", "--max-new-tokens", "8", stdin=script)
    assert out.returncode == 0, out.stderr
    assert "chatting with tiny.base on cpu" in out.stderr
    assert out.stdout.count("[turn 1]") == 2 and out.stdout.count("[turn 2]") == 1  # the reset restarts the count
    assert "[conversation reset]" in out.stdout
    assert "[system prompt set: 'Tu es un pirate.'; conversation reset]" in out.stdout
    assert "[unknown command /oops" in out.stdout


def test_chat_with_a_checkpoint_not_produced_yet_names_what_to_run(instance):
    env, _, _ = instance
    out = luth(env, "chat", "tiny.finetuned", stdin="")
    assert out.returncode == 2
    assert "materialize finetuned_checkpoint partition 'tiny'" in out.stderr and "luth demo --select finetuned_checkpoint" in out.stderr
    bogus = luth(env, "chat", "nothing-like-this", stdin="")
    assert bogus.returncode == 2 and "neither a checkpoint of profile" in bogus.stderr


def test_generate_answers_prompts_from_flags_and_files(instance, tmp_path):
    env, _, _ = instance
    out = luth(env, "generate", "tiny.base", "--prompt", "Bonjour", "--prompt", "Quelle heure est-il ?", "--max-new-tokens", "6")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["prompt"] for r in rows] == ["Bonjour", "Quelle heure est-il ?"] and all(r["checkpoint"] == "tiny.base" for r in rows)

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Un"}\n{"prompt": "Deux"}\n', encoding="utf-8")
    target = tmp_path / "answers.jsonl"
    written = luth(env, "generate", "tiny.base", "--input", str(prompts), "--output", str(target), "--max-new-tokens", "4")
    assert written.returncode == 0, written.stderr
    assert [json.loads(line)["prompt"] for line in target.read_text(encoding="utf-8").splitlines()] == ["Un", "Deux"]

    prompts.write_text('{"prompt": "Un"}\n{"question": "Deux"}\n', encoding="utf-8")
    bad = luth(env, "generate", "tiny.base", "--input", str(prompts))
    assert bad.returncode == 2 and f"{prompts}:2: expected a JSON object with a `prompt` field" in bad.stderr
