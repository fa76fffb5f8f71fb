"""The Axolotl engine: render the YAML, validate it with Axolotl's schema, build the launch.

Axolotl lives in its own environment (`.venv-train`: it pins exact transformers/peft/
accelerate/datasets/trl versions that clash with the orchestrator's), so everything that needs
it runs as a subprocess of that environment's interpreter:
- `probe_environment`: CUDA / flash-attn / DeepSpeed availability there;
- `validate_config_file`: `axolotl.utils.config.validate_config` on the rendered YAML;
- `launch_command`: `accelerate launch -m axolotl.cli.train cfg.yaml`, which the Dagster layer
  runs through Pipes (`luth_pipeline/train_child/luth_axolotl_pipes.py` streams metrics back from rank 0).

Data: Axolotl tokenizes and packs by itself from the `luth_sft` chat table (type
`chat_template` with the tokenizer's own template, assistant turns trained, end-of-turn token
included), i.e. the same tokens and labels that `luth_sft_packed` holds for the light engine.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from luth_pipeline.core.config.profile import REPO_ROOT
from luth_pipeline.core.train.config import AxolotlSettings, ModelTrainSpec

# Lives outside core/: it runs inside .venv-train and speaks dagster-pipes to the orchestrator.
CHILD_DIR = Path(__file__).resolve().parents[2] / "train_child"
CHILD_SCRIPT = CHILD_DIR / "luth_axolotl_pipes.py"
PIPES_PLUGIN = "luth_axolotl_pipes.PipesPlugin"
# The target GPU for validating `gpu` configs on a CPU-only machine (one H100, as upstream).
H100_CAPABILITIES = {"bf16": True, "fp8": True, "tf32": True, "n_gpu": 1, "compute_capability": "sm_90"}


class AxolotlError(RuntimeError):
    """The Axolotl environment is missing, a config fails its schema, or training failed."""


@dataclass(frozen=True)
class TrainEnv:
    """`.venv-train`: the interpreter and `accelerate` that run Axolotl."""

    venv: Path

    @classmethod
    def from_settings(cls, settings: AxolotlSettings) -> "TrainEnv":
        venv = Path(settings.venv)
        return cls(venv if venv.is_absolute() else REPO_ROOT / venv)

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def accelerate(self) -> Path:
        return self.venv / "bin" / "accelerate"

    def check(self) -> None:
        if not self.python.exists() or not self.accelerate.exists():
            raise AxolotlError(
                f"the Axolotl environment {self.venv} is missing or incomplete: create it with "
                f"`make .venv-train/.installed` (axolotl[deepspeed] 0.19 + deepspeed, ~4 min)"
            )

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Child environment: the venv's bin first on PATH (Axolotl calls `accelerate` from PATH),
        our Pipes plugin importable, no telemetry, no hub downloads unless the parent allows them."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.venv)
        env["PYTHONPATH"] = str(CHILD_DIR)
        env.pop("PYTHONHOME", None)
        env.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
        env.setdefault("DO_NOT_TRACK", "1")
        env.setdefault("DS_BUILD_OPS", "0")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def run_child(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        self.check()
        return subprocess.run(
            [str(self.python), str(CHILD_SCRIPT), *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout, cwd=str(REPO_ROOT),
        )


def probe_environment(env: TrainEnv) -> dict:
    """What `.venv-train` can use: {"cuda", "n_gpu", "bf16", "flash_attn", "deepspeed", versions…}."""
    proc = env.run_child("probe")
    if proc.returncode != 0:
        raise AxolotlError(f"probing {env.venv} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def validate_config_files(env: TrainEnv, paths: list[Path], capabilities: dict | None = None) -> list[dict]:
    """Validate with Axolotl's own pydantic schema (one child process for all files); returns the
    normalised configs Axolotl accepts, or raises naming each rejected file and Axolotl's reason."""
    args = ["validate", *map(str, paths)]
    if capabilities:
        args += ["--capabilities", json.dumps(capabilities)]
    proc = env.run_child(*args, timeout=120 + 30 * len(paths))
    answers = {}
    for line in proc.stdout.splitlines():
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(answer, dict) and "path" in answer:
            answers[answer["path"]] = answer
    problems = []
    for path in map(str, paths):
        answer = answers.get(path)
        if answer is None:
            problems.append(f"{path}: no answer from the validator (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        elif not answer["ok"]:
            problems.append(f"{path}: {answer['error']}")
    if problems:
        raise AxolotlError("Axolotl rejected the config(s):\n" + "\n".join(problems)
                           + "\nFix the profile's `train` section or the template in configs/train/.")
    return [answers[str(p)]["config"] for p in paths]


def validate_config_file(env: TrainEnv, path: Path, capabilities: dict | None = None) -> dict:
    return validate_config_files(env, [path], capabilities)[0]


def load_template(path: str | Path) -> dict:
    path = Path(path)
    path = path if path.is_absolute() else REPO_ROOT / path
    if not path.is_file():
        raise FileNotFoundError(f"Axolotl template {path} does not exist (train.axolotl.template)")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def render_config(
    template: dict,
    *,
    base_model: str,
    spec: ModelTrainSpec,
    settings: AxolotlSettings,
    data_files: list[str],
    output_dir: Path,
    prepared_dir: Path,
    flash_attn_available: bool,
    seed: int,
    run_name: str,
    report_to: list[str] = (),
    wandb_project: str = "luth",
) -> dict:
    """The template with this run's model, data, paths and the profile's hyper-parameters."""
    if not data_files:
        raise ValueError("render_config: no luth_sft data files (materialize luth_sft first)")
    cfg = copy.deepcopy(template)
    cfg["base_model"] = base_model
    dataset = dict(cfg["datasets"][0])
    dataset.update(
        path=str(Path(data_files[0]).parent),
        ds_type="parquet",
        data_files=[str(f) for f in data_files],
        train_on_eos=spec.train_on_eos,
    )
    cfg["datasets"] = [dataset]
    cfg.update(
        output_dir=str(output_dir),
        dataset_prepared_path=str(prepared_dir),
        sequence_len=spec.sequence_len,
        sample_packing=spec.sample_packing,
        pad_to_sequence_len=spec.sample_packing,
        learning_rate=spec.learning_rate,
        num_epochs=spec.num_epochs,
        lr_scheduler=spec.lr_scheduler,
        warmup_ratio=spec.warmup_ratio,
        optimizer=spec.optimizer,
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        micro_batch_size=spec.micro_batch_size,
        gradient_accumulation_steps=spec.gradient_accumulation_steps,
        bf16=spec.bf16,
        gradient_checkpointing=spec.gradient_checkpointing is not False,  # auto: upstream's true
        chunked_cross_entropy=spec.chunked_cross_entropy,
        seed=seed,
    )
    if spec.eot_tokens:
        cfg["eot_tokens"] = list(spec.eot_tokens)
    if spec.max_steps:
        cfg["max_steps"] = spec.max_steps
    if spec.save_steps:
        cfg.update(save_strategy="steps", save_steps=spec.save_steps)
    use_flash = settings.flash_attention == "on" or (settings.flash_attention == "auto" and flash_attn_available)
    if settings.flash_attention == "on" and not flash_attn_available:
        raise AxolotlError("train.axolotl.flash_attention is `on` but .venv-train has no flash-attn CUDA build")
    cfg["attn_implementation"] = "flash_attention_2" if use_flash and not settings.cpu else "sdpa"
    deepspeed_dir = Path(settings.deepspeed_dir)
    deepspeed_dir = deepspeed_dir if deepspeed_dir.is_absolute() else REPO_ROOT / deepspeed_dir
    cfg.pop("deepspeed", None)
    if spec.deepspeed and not settings.cpu:
        ds = deepspeed_dir / f"{spec.deepspeed}.json"
        if not ds.is_file():
            raise FileNotFoundError(f"DeepSpeed config {ds} does not exist (train.models.*.deepspeed: {spec.deepspeed})")
        cfg["deepspeed"] = str(ds)
    if settings.cpu:
        # CI / laptops: full precision, no CUDA-only pieces (8-bit optimizers, pinned memory).
        cfg.update(bf16=False, fp16=False, tf32=False, dataloader_pin_memory=False, dataloader_num_workers=0,
                   chunked_cross_entropy=False)
        cfg.pop("dataloader_prefetch_factor", None)
        if "8bit" in cfg["optimizer"]:
            cfg["optimizer"] = "adamw_torch"
    plugins = list(cfg.get("plugins") or [])
    if PIPES_PLUGIN not in plugins:
        plugins.append(PIPES_PLUGIN)
    cfg["plugins"] = plugins
    if "wandb" in report_to:
        cfg.update(wandb_project=wandb_project, wandb_name=run_name)
    if "mlflow" in report_to:
        cfg.update(mlflow_experiment_name=wandb_project, mlflow_run_name=run_name)
    return cfg


def write_config(cfg: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def launch_command(env: TrainEnv, config_path: Path, settings: AxolotlSettings, mixed_precision: str) -> list[str]:
    """`accelerate launch` of Axolotl's trainer. Multi-node: the same command on every node with
    ACCELERATE_MACHINE_RANK / MAIN_PROCESS_IP set (see README: Multi-GPU and multi-node)."""
    cmd = [str(env.accelerate), "launch", "--num_processes", str(settings.num_processes),
           "--num_machines", str(settings.num_machines), "--mixed_precision", mixed_precision,
           "--dynamo_backend", "no"]
    if settings.num_machines > 1:
        cmd += ["--machine_rank", os.environ.get("ACCELERATE_MACHINE_RANK", "0"),
                "--main_process_ip", os.environ.get("ACCELERATE_MAIN_PROCESS_IP", "127.0.0.1"),
                "--main_process_port", os.environ.get("ACCELERATE_MAIN_PROCESS_PORT", "29500")]
    elif settings.num_processes > 1:
        cmd += ["--multi_gpu"]
    if settings.cpu:
        cmd += ["--cpu"]
    return cmd + ["-m", "axolotl.cli.train", str(config_path)]


def summarize_messages(messages: list[dict]) -> tuple[list[dict], dict]:
    """Split the child's Pipes messages into the per-step log records and the end-of-run summary."""
    logs = [m for m in messages if isinstance(m, dict) and m.get("event") == "log"]
    end = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("event") == "train_end"), {})
    return logs, end
