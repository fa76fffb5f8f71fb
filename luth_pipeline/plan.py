"""`luth plan`: what a profile will do, before anything runs — offline, from the profile alone.

For every stage: its inputs, what it downloads or calls, estimated tokens, GPU-hours and API cost
(where `llm.prices` has the model). The figures behind the estimates are in configs/plan.yaml,
each with its source; nothing here is measured. A profile with an unset required field (a hub
source's split or chat column, an LLM step's endpoint, an endpoint's URL or key name, a manifest)
is refused with every such field named, so a real run never finds out hours in.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from luth_pipeline.core.config.base import ConfigError
from luth_pipeline.core.config.profile import REPO_ROOT, Profile

ESTIMATES = REPO_ROOT / "configs" / "plan.yaml"


class UnsetFields(ValueError):
    def __init__(self, profile: Profile, fields: list[str]):
        self.fields = fields
        super().__init__(
            f"profile `{profile.name}` leaves {len(fields)} required field(s) unset; set them before a real run:\n"
            + "\n".join(f"  - {f}" for f in fields)
        )


@dataclass
class Step:
    stage: str
    asset: str
    inputs: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    tokens: int | None = None  # tokens processed (LLM in+out, training tokens, …)
    gpu_hours: float | None = None
    cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)


def _set(model, name: str) -> bool:
    return name in model.model_fields_set


def _llm_steps(profile: Profile) -> dict[str, object]:
    """The LLM steps this profile runs, by config path."""
    steps = {}
    assets = {entry.asset for entry in profile.sft.mixture}
    if profile.tulu.sources and "tulu_answers_fr" in assets:
        steps["tulu.translate"] = profile.tulu.translate
        steps["tulu.answer"] = profile.tulu.answer
        if profile.tulu.judge.enabled:
            steps["tulu.judge"] = profile.tulu.judge
    if "scholar_exercises" in assets:
        steps["scholar.extraction"] = profile.scholar.extraction
        steps["scholar.refinement"] = profile.scholar.refinement
    return steps


def unset_fields(profile: Profile) -> list[str]:
    """Required fields a real run needs and the profile does not say. A hub source must name its
    split and its chat column(s) (defaults guess: smoltalk2's SFT subset has no `train` split);
    every LLM step needs a known endpoint, an `openai` endpoint its URL, a `gemini` one its key name."""
    missing = []
    for name, source in profile.sources.items():
        if source.data_files:
            continue  # local files in the dataset's schema: nothing to guess
        if not _set(source, "split"):
            missing.append(f"sources.{name}.split (the hub split of {source.hf_id}{'/' + source.subset if source.subset else ''})")
        if source.format == "messages" and not _set(source, "messages_column"):
            missing.append(f"sources.{name}.messages_column (the chat column of {source.hf_id}; or format: pair with prompt_column/response_column)")
    for path, step in _llm_steps(profile).items():
        endpoint = profile.llm.endpoints.get(step.endpoint)
        if endpoint is None:
            missing.append(f"{path}.endpoint ({step.endpoint!r} is not under llm.endpoints: {', '.join(sorted(profile.llm.endpoints)) or 'none'})")
            continue
        if not step.model:
            missing.append(f"{path}.model")
        if endpoint.backend == "openai" and not endpoint.base_url:
            missing.append(f"llm.endpoints.{step.endpoint}.base_url (the server's /v1 URL)")
        if endpoint.backend == "gemini" and not endpoint.api_key_env:
            missing.append(f"llm.endpoints.{step.endpoint}.api_key_env (the environment variable holding the key)")
    if "scholar.extraction" in _llm_steps(profile) and not profile.resolve_path(profile.scholar.manifest).is_file():
        missing.append(f"scholar.manifest ({profile.scholar.manifest} does not exist)")
    if profile.sft.hub.push and not profile.sft.hub.repo_id:
        missing.append("sft.hub.repo_id")
    return missing


def load_estimates(path: Path = ESTIMATES) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path} (the plan's estimates) does not exist")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _params_billion(name: str) -> float | None:
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bm])\b", name.lower())
    if not match:
        return None
    return float(match.group(1)) / (1000 if match.group(2) == "m" else 1)


def train_throughput(base_model: str, estimates: dict) -> tuple[float, str]:
    """Tokens/s per GPU for `base_model`: listed, else scaled by parameter count from the nearest
    listed model (throughput ∝ 1 / parameters at a fixed MFU)."""
    table = estimates["train_tokens_per_s"]
    if base_model in table:
        return float(table[base_model]["value"]), table[base_model]["source"]
    size = _params_billion(base_model)
    sized = [(k, _params_billion(k)) for k in table if _params_billion(k)]
    if size is None or not sized:
        key = next(iter(table))
        return float(table[key]["value"]), f"{table[key]['source']} (as {key}: size of {base_model} unknown)"
    key, ref = min(sized, key=lambda kv: abs(kv[1] - size))
    return float(table[key]["value"]) * ref / size, f"scaled by parameters from {key} ({table[key]['source']})"


def _cost(model: str, tokens_in: int, tokens_out: int, profile: Profile) -> float | None:
    price = profile.llm.prices.get(model)
    if price is None:
        return None
    return tokens_in / 1e6 * price.input_per_mtok + tokens_out / 1e6 * price.output_per_mtok


def _llm_step(path: str, step, requests: int, profile: Profile, estimates: dict) -> tuple[str, int, float | None, float | None]:
    """A call line, tokens, API cost (priced models) and GPU-hours (self-hosted models)."""
    sizes = estimates["llm_request_tokens"][path]
    tokens_in, tokens_out = requests * sizes["input"], requests * sizes["output"]
    endpoint = profile.llm.endpoints[step.endpoint]
    where = endpoint.base_url or {"gemini": "Gemini API", "vllm": "vLLM offline (this host's GPU)"}.get(endpoint.backend, endpoint.backend)
    cost = _cost(step.model, tokens_in, tokens_out, profile)
    gpu_hours = None
    if cost is None and endpoint.backend in {"openai", "vllm"}:
        rates = estimates["generation_tokens_per_s"]
        rate = rates.get(step.model, rates["default"])["value"]
        # decode dominates; prompt prefill counted at a tenth of a decoded token (estimate)
        gpu_hours = (tokens_out + 0.1 * tokens_in) / rate / 3600 * max(endpoint.tensor_parallel_size, 1)
    line = (f"{path}: ~{requests:,} requests to `{step.model}` at {where} ({step.endpoint}), "
            f"~{tokens_in / 1e6:.1f}M tokens in / {tokens_out / 1e6:.1f}M out")
    if endpoint.api_key_env:
        line += f", key from ${endpoint.api_key_env}"
    return line, tokens_in + tokens_out, cost, gpu_hours


def _scholar_exams(profile: Profile) -> int | None:
    from luth_pipeline.core.scholar.manifest import load_manifest

    manifest = load_manifest(profile.resolve_path(profile.scholar.manifest))
    if manifest.folders:
        return None
    return len(manifest.exams)


def build_plan(profile: Profile, estimates: dict | None = None, base_models: list[str] | None = None) -> list[Step]:
    """The plan for every base model of the profile, or for `base_models` only."""
    unknown = sorted(set(base_models or []) - set(profile.base_models))
    if unknown:
        raise ConfigError(f"base model(s) {', '.join(unknown)} not in the profile's base_models ({', '.join(profile.base_models)})")
    missing = unset_fields(profile)
    if missing:
        raise UnsetFields(profile, missing)
    estimates = estimates or load_estimates()
    from luth_pipeline.core.eval.datasets import suite_tasks, task_catalogue, task_name
    from luth_pipeline.core.merge.recipes import load_recipes

    steps: list[Step] = []
    for name, source in profile.sources.items():
        origin = ", ".join(source.data_files) if source.data_files else (
            f"hf://datasets/{source.hf_id}" + (f" subset {source.subset}" if source.subset else "") + f" split {source.split}"
            + (" (streamed)" if source.streaming else ""))
        cap = f"up to {source.max_rows:,} rows" if source.max_rows else "every row"
        steps.append(Step("sources", f"raw_multilingual_dumps[{name}]", downloads=[f"{origin}: {cap}"],
                          notes=[f"columns: {', '.join(source.required_columns)}", f"license {source.license}"]))
        steps.append(Step("french", f"french_samples[{name}]", inputs=[f"raw_multilingual_dumps[{name}]"],
                          notes=["langdetect + length filters + exact/MinHash dedup, CPU"]))

    llm_steps = _llm_steps(profile)
    if "tulu.translate" in llm_steps:
        tulu = profile.tulu
        prompts = sum(s.max_rows or 0 for s in tulu.sources.values())
        unknown = [k for k, s in tulu.sources.items() if not s.max_rows]
        steps.append(Step("tulu", "tulu_prompts", downloads=[
            (", ".join(s.data_files) if s.data_files else f"hf://datasets/{s.hf_id} split {s.split}")
            + (f" (up to {s.max_rows:,} rows)" if s.max_rows else " (every row)")
            for s in tulu.sources.values()]))
        # Upstream's published sizes bound what the tulu splits need when no cap is set.
        requests = prompts or sum((e.max_rows or 0) for e in profile.sft.mixture if e.asset == "tulu_answers_fr")
        notes = ["capped prompts" if not unknown else
                 f"LOWER BOUND: {', '.join(unknown)} uncapped (every row is sent); sized by "
                 + ("the caps of the others" if prompts else "the mixture caps of the tulu splits")
                 + " — set tulu.sources.<name>.max_rows for a firm figure"]
        for path, asset in (("tulu.translate", "tulu_prompts_fr"), ("tulu.answer", "tulu_answers_fr"), ("tulu.judge", "tulu_answers_fr")):
            if path not in llm_steps:
                continue
            line, tokens, cost, hours = _llm_step(path, llm_steps[path], requests, profile, estimates)
            steps.append(Step("tulu", asset + (" (judge)" if path == "tulu.judge" else ""), inputs=["tulu_prompts" if path == "tulu.translate" else "tulu_prompts_fr"],
                              calls=[line], tokens=tokens, cost_usd=cost, gpu_hours=hours, notes=notes))
    if "scholar.extraction" in llm_steps:
        exams = _scholar_exams(profile)
        per_exam = estimates["scholar_items_per_exam"]["value"]
        items = exams * per_exam if exams is not None else estimates["scholar_reference_items"]["value"]
        exam_calls = exams * 4 if exams is not None else round(items / per_exam) * 4
        basis = f"{exams} exams listed" if exams is not None else "manifest folders (not counted offline): sized as upstream's ≈30k items"
        steps.append(Step("scholar", "scholar_pdfs", downloads=[f"exam PDFs of {profile.scholar.manifest} ({basis})"]))
        line, tokens, cost, hours = _llm_step("scholar.extraction", llm_steps["scholar.extraction"], exam_calls, profile, estimates)
        steps.append(Step("scholar", "scholar_extractions", inputs=["scholar_pdfs"], calls=[line], tokens=tokens, cost_usd=cost, gpu_hours=hours))
        line, tokens, cost, hours = _llm_step("scholar.refinement", llm_steps["scholar.refinement"], items, profile, estimates)
        steps.append(Step("scholar", "scholar_exercises", inputs=["scholar_extractions"], calls=[line], tokens=tokens, cost_usd=cost, gpu_hours=hours))

    rows = sum(e.max_rows or 0 for e in profile.sft.mixture)
    uncapped = [e.split for e in profile.sft.mixture if not e.max_rows]
    per_row = estimates["tokens_per_sft_row"]["value"]
    sft_tokens = rows * per_row if rows and not uncapped else None
    eval_sets = sorted({spec.hf_repo for spec in task_catalogue(profile.eval).values()})
    steps.append(Step("sft", "luth_sft", inputs=sorted({e.asset + (f"[{','.join(e.partitions)}]" if e.partitions else "") for e in profile.sft.mixture}),
                      downloads=[f"eval sets for decontamination: {', '.join(eval_sets)}"] if profile.eval.data_source == "hub" else [],
                      tokens=sft_tokens,
                      notes=[f"{rows:,} rows at most (split caps)" + (f"; uncapped splits: {', '.join(uncapped)}" if uncapped else ""),
                             f"tokens ≈ rows × {per_row} ({estimates['tokens_per_sft_row']['source']})"]
                      + ([f"push to hf://datasets/{profile.sft.hub.repo_id} ($HF_TOKEN)"] if profile.sft.hub.push else [])))

    num_gpus = profile.train.axolotl.num_processes * profile.train.axolotl.num_machines if profile.train.engine == "axolotl" else 1
    recipes = load_recipes(profile.merge)
    checkpoints = 0
    for base, spec in profile.base_models.items():
        if base not in profile.train.models or (base_models and base not in base_models):
            continue
        train = profile.train.model(base)
        origin = spec.hf_id or "built offline from a config"
        steps.append(Step("sft", f"luth_sft_packed[{base}]", inputs=["luth_sft"], downloads=[f"tokenizer of {origin}"],
                          notes=[f"sequence_len {profile.sft.packing.sequence_len}"]))
        epochs = train.num_epochs
        tokens = sft_tokens * epochs if sft_tokens else None
        rate, rate_source = train_throughput(base, estimates)
        hours = tokens / rate / 3600 if tokens else None  # GPU-hours: the same on 1 or N GPUs at equal per-GPU speed
        effective = train.micro_batch_size * train.gradient_accumulation_steps * num_gpus
        steps.append(Step("train", f"finetuned_checkpoint[{base}]", inputs=[f"luth_sft_packed[{base}]"], downloads=[f"weights of {origin}"],
                          tokens=tokens, gpu_hours=hours,
                          notes=[f"{profile.train.engine} on {num_gpus} GPU(s): {epochs} epochs, effective batch {effective} "
                                 f"({train.micro_batch_size}×{train.gradient_accumulation_steps}×{num_gpus})",
                                 f"{rate:,.0f} tokens/s per GPU ({rate_source})"]
                          + ([f"wall ≈ {hours / num_gpus:.1f} h on {num_gpus} GPU(s)"] if hours else [])))
        merge_hours = estimates["merge_gpu_hours"]["value"] * len(recipes)
        steps.append(Step("merge", f"merged_checkpoint[{base}|*]", inputs=[f"finetuned_checkpoint[{base}]", origin],
                          gpu_hours=merge_hours, notes=[f"{len(recipes)} recipe(s): {', '.join(r.name for r in recipes)}"]))
        checkpoints += 2 + len(recipes)

    suites = suite_tasks(profile.eval)
    eval_hours = estimates["eval_gpu_hours_per_run"]["value"] * profile.eval.num_runs * checkpoints
    eval_repos = sorted({task_catalogue(profile.eval)[task_name(e)].hf_repo for entries in suites.values() for e in entries})
    steps.append(Step("eval", "benchmark_scores[*]", inputs=["checkpoint partitions (base, fine-tuned, merges)"],
                      downloads=[", ".join(eval_repos)] if profile.eval.data_source == "hub" else [],
                      gpu_hours=eval_hours if profile.eval.backend == "vllm" else None,
                      notes=[f"{checkpoints} checkpoint(s) × {profile.eval.num_runs} run(s) × {sum(len(v) for v in suites.values())} tasks, "
                             f"{profile.eval.backend}, max_new_tokens {profile.eval.max_new_tokens}",
                             estimates["eval_gpu_hours_per_run"]["source"]]))
    steps.append(Step("eval", "eval_report", inputs=["benchmark_scores[*]", profile.eval.reference_scores]))
    return steps


def render(profile: Profile, steps: list[Step]) -> str:
    lines = [f"luth plan — profile `{profile.name}` ({profile.description})", f"data_root {profile.data_root}", ""]
    for step in steps:
        figures = []
        if step.tokens is not None:
            figures.append(f"~{step.tokens / 1e6:,.1f}M tokens")
        if step.gpu_hours is not None:
            figures.append(f"~{step.gpu_hours:,.1f} GPU-h")
        if step.cost_usd is not None:
            figures.append(f"~${step.cost_usd:,.2f}")
        lines.append(f"[{step.stage}] {step.asset}" + (f"  ({', '.join(figures)})" if figures else ""))
        for label, values in (("in", step.inputs), ("downloads", step.downloads), ("calls", step.calls), ("note", step.notes)):
            lines += [f"    {label}: {v}" for v in values]
    gpu = sum(s.gpu_hours or 0 for s in steps)
    cost = sum(s.cost_usd or 0 for s in steps)
    lines += ["", f"TOTAL (estimates, configs/plan.yaml): ~{gpu:,.1f} GPU-hours, ~${cost:,.2f} API cost (priced models only)"]
    return "\n".join(lines)


def plan_json(profile: Profile, steps: list[Step]) -> dict:
    return {"profile": profile.name, "steps": [asdict(s) for s in steps],
            "total_gpu_hours": sum(s.gpu_hours or 0 for s in steps), "total_cost_usd": sum(s.cost_usd or 0 for s in steps)}
