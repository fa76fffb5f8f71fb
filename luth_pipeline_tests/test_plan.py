"""`luth plan`: every stage of a real profile, offline, with estimated tokens, GPU-hours and API cost;
refused with every unset required field named."""

import json

import pytest
import yaml

from luth_pipeline.cli import main
from luth_pipeline.core.config import load_profile
from luth_pipeline.plan import UnsetFields, build_plan, load_estimates

STAGE_ASSETS = [
    "raw_multilingual_dumps", "french_samples", "tulu_prompts", "tulu_prompts_fr", "tulu_answers_fr", "scholar_pdfs",
    "scholar_extractions", "scholar_exercises", "luth_sft", "luth_sft_packed", "finetuned_checkpoint", "merged_checkpoint",
    "benchmark_scores", "eval_report",
]
# What the sources issue fills in for the gpu profile (values only used to make the profile complete here).
SOURCES_SPECIFIED = {
    "smoltalk2": {"split": "a_split", "messages_column": "messages"},
    "aya_dataset": {"split": "train"},
    "croissantllm": {"split": "train", "messages_column": "messages"},
    "openhermes_fr": {"split": "train"},
}


def _specified(tmp_path, base: str):
    path = tmp_path / f"{base}_specified.yaml"
    path.write_text(yaml.safe_dump({"extends": base, "sources": SOURCES_SPECIFIED}))
    return str(path)


def _run(capsys, *args):
    rc = main(["plan", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _fields_left_to_defaults(profile: str) -> list[str]:
    """Read independently of the plan: the hub sources of the profile's YAML (after `extends`)
    that do not write down their split or, for chat-format sources, their messages column."""
    from luth_pipeline.core.config.profile import PROFILES_DIR

    def raw(name):
        data = yaml.safe_load((PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
        parent = raw(data["extends"]) if "extends" in data else {}
        sources = {k: {**parent.get("sources", {}).get(k, {}), **v} for k, v in data.get("sources", {}).items()}
        return {**parent, **data, "sources": {**parent.get("sources", {}), **sources}}

    missing = []
    for name, source in raw(profile)["sources"].items():
        if source.get("data_files"):
            continue
        if "split" not in source:
            missing.append(f"sources.{name}.split")
        if source.get("format", "messages") == "messages" and "messages_column" not in source:
            missing.append(f"sources.{name}.messages_column")
    return missing


@pytest.mark.parametrize("profile", ["gpu", "prod", "gpu-8xh100"])
def test_shipped_profile_plans_every_stage_with_no_unset_field(capsys, profile):
    """The shipped gpu profiles run as shipped: every hub source names its split and chat column,
    so the plan is complete (a profile that loses one fails here, naming the field)."""
    assert _fields_left_to_defaults(profile) == []
    rc, out, err = _run(capsys, "--profile", profile)
    assert rc == 0, err
    assert all(f"] {asset}" in out for asset in STAGE_ASSETS)


@pytest.mark.parametrize("base", ["gpu", "prod"])
def test_complete_profile_plans_every_stage(capsys, tmp_path, base):
    rc, out, err = _run(capsys, "--profile", _specified(tmp_path, base))
    assert rc == 0, err
    for asset in STAGE_ASSETS:
        assert f"] {asset}" in out, asset
    assert "hf://datasets/HuggingFaceTB/smoltalk2 subset SFT split a_split" in out
    teacher_url = load_profile(_specified(tmp_path, base)).llm.endpoints["vllm_serve"].base_url  # in-cluster on prod
    assert f"requests to `Qwen/Qwen3-32B` at {teacher_url}" in out
    assert "requests to `gemini-2.5-flash-lite` at Gemini API (gemini)" in out and "key from $GEMINI_API_KEY" in out
    assert "TOTAL (estimates, configs/plan.yaml)" in out
    if base == "prod":
        assert "data_root s3://${LUTH_S3_BUCKET}/luth" in out


def test_estimates_follow_the_profile_and_the_estimates_file(capsys, tmp_path):
    rc, out, _ = _run(capsys, "--profile", _specified(tmp_path, "gpu"), "--json")
    assert rc == 0
    plan = json.loads(out)
    steps = {s["asset"]: s for s in plan["steps"]}
    estimates = load_estimates()
    profile = load_profile(_specified(tmp_path, "gpu"))
    rows = sum(e.max_rows for e in profile.sft.mixture)
    assert rows == 570_623  # upstream's split sizes
    tokens = rows * estimates["tokens_per_sft_row"]["value"] * profile.train.models["qwen3-0.6b"].num_epochs
    train = steps["finetuned_checkpoint[qwen3-0.6b]"]
    assert train["tokens"] == tokens
    assert train["gpu_hours"] == pytest.approx(tokens / estimates["train_tokens_per_s"]["qwen3-0.6b"]["value"] / 3600)
    # Gemini is priced in the profile: items × (in × $/Mtok + out × $/Mtok)
    refine, price = estimates["llm_request_tokens"]["scholar.refinement"], profile.llm.prices["gemini-2.5-flash-lite"]
    items = estimates["scholar_reference_items"]["value"]
    assert steps["scholar_exercises"]["cost_usd"] == pytest.approx(
        items * (refine["input"] * price.input_per_mtok + refine["output"] * price.output_per_mtok) / 1e6)
    # self-hosted Qwen3-32B: GPU-hours, no price
    assert steps["tulu_answers_fr"]["cost_usd"] is None and steps["tulu_answers_fr"]["gpu_hours"] > 0
    assert plan["total_gpu_hours"] == pytest.approx(sum(s["gpu_hours"] or 0 for s in plan["steps"]))


def test_unknown_endpoint_and_missing_key_name_are_named(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({
        "extends": _specified(tmp_path, "gpu"),
        "tulu": {"judge": {"endpoint": "nowhere", "model": "Qwen/Qwen3-32B"}},
        "llm": {"endpoints": {"gemini": {"backend": "gemini", "api_key_env": None}}},
    }))
    with pytest.raises(UnsetFields) as error:
        build_plan(load_profile(str(path)))
    assert any(f.startswith("tulu.judge.endpoint ('nowhere' is not under llm.endpoints") for f in error.value.fields)
    assert any(f.startswith("llm.endpoints.gemini.api_key_env") for f in error.value.fields)


def test_local_profile_plans_without_downloads_from_the_hub(capsys):
    rc, out, err = _run(capsys, "--profile", "local")
    assert rc == 0, err
    assert "hf://" not in out and "luth_pipeline/demo_data/sources" in out


def test_plan_for_chosen_base_models(capsys, tmp_path):
    rc, out, _ = _run(capsys, "--profile", _specified(tmp_path, "gpu"), "--base-model", "qwen3-0.6b", "--json")
    assert rc == 0
    assets = [s["asset"] for s in json.loads(out)["steps"]]
    assert "finetuned_checkpoint[qwen3-0.6b]" in assets and not any("qwen3-1.7b" in a or "lfm2" in a for a in assets)
    rc, _, err = _run(capsys, "--profile", _specified(tmp_path, "gpu"), "--base-model", "qwen9")
    assert rc == 2 and "qwen9" in err


def test_eight_gpu_profile_keeps_upstreams_effective_batch():
    profile = load_profile("gpu-8xh100")
    gpus = profile.train.axolotl.num_processes
    for base in ("qwen3-0.6b", "qwen3-1.7b", "lfm2-350m"):
        spec = profile.train.models[base]
        assert spec.micro_batch_size * spec.gradient_accumulation_steps * gpus == 24, base
        assert spec.learning_rate == load_profile("gpu").train.models[base].learning_rate  # only the batch split changes
