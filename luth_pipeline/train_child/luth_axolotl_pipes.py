"""Runs INSIDE `.venv-train` (axolotl, transformers, dagster-pipes): no luth_pipeline imports.

This folder is put on PYTHONPATH of the Axolotl child process, so:
- `plugins: [luth_axolotl_pipes.PipesPlugin]` in the rendered config adds a Trainer callback
  that streams loss, learning rate, tokens/s and memory back to Dagster through Pipes
  (rank 0 only; other ranks stay silent);
- `python luth_axolotl_pipes.py validate cfg.yaml... [--capabilities JSON]` checks a rendered
  config with Axolotl's own schema (`axolotl.utils.config.validate_config`);
- `python luth_axolotl_pipes.py probe` prints what the environment offers (CUDA, flash-attn,
  DeepSpeed, Liger, versions) as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import time

from axolotl.integrations.base import BasePlugin
from transformers import TrainerCallback


def _float(value):
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


class PipesCallback(TrainerCallback):
    """Forwards each log line to Dagster (custom messages + run log) from rank 0."""

    def __init__(self):
        self.pipes = None
        self._stack = None
        self._t0 = None
        self._t_prev = None
        self._total_prev = 0
        self.last = {}

    def _open(self):
        if self.pipes is not None or _rank() != 0 or "DAGSTER_PIPES_CONTEXT" not in os.environ:
            return
        from contextlib import ExitStack

        from dagster_pipes import open_dagster_pipes

        self._stack = ExitStack()
        self.pipes = self._stack.enter_context(open_dagster_pipes())

    def on_train_begin(self, args, state, control, **kwargs):
        self._open()
        self._t0 = self._t_prev = time.perf_counter()
        if self.pipes is not None:
            self.pipes.log.info(f"axolotl training: {state.max_steps} optimizer steps, world size {args.world_size}")
            self.pipes.report_custom_message({"event": "train_begin", "max_steps": state.max_steps,
                                               "world_size": args.world_size})

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.pipes is None or not logs or "loss" not in logs:
            return
        now = time.perf_counter()
        total = _float(logs.get("tokens/total"))
        tokens_per_s = None
        if total is not None and now > self._t_prev:
            # Per GPU, like Axolotl's trainable-token rate; total includes the padding.
            tokens_per_s = (total - self._total_prev) / (now - self._t_prev) / max(args.world_size, 1)
            self._total_prev = total
        self._t_prev = now
        import torch

        if torch.cuda.is_available():
            memory = _float(logs.get("memory/max_allocated (GiB)"))
        else:  # Axolotl reports 0 GiB on CPU: use this process's max RSS instead
            memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        record = {
            "event": "log",
            "step": state.global_step,
            "epoch": float(state.epoch or 0),
            "loss": _float(logs.get("loss")),
            "learning_rate": _float(logs.get("learning_rate")),
            "grad_norm": _float(logs.get("grad_norm")),
            "tokens_per_s": tokens_per_s,
            "trainable_tokens_per_s": _float(logs.get("tokens/train_per_sec_per_gpu")),
            "tokens_total": total,
            "tokens_trainable": _float(logs.get("tokens/trainable")),
            "peak_memory_gib": memory,
            "elapsed_s": now - self._t0,
        }
        self.last = record
        self.pipes.report_custom_message(record)
        rate = f"{tokens_per_s:,.0f} tok/s" if tokens_per_s else "- tok/s"
        self.pipes.log.info(
            f"step {state.global_step}/{state.max_steps} loss {record['loss']:.4f} "
            f"lr {record['learning_rate'] or 0:.3g} {rate} mem {memory:.2f} GiB"
        )

    def on_train_end(self, args, state, control, **kwargs):
        if self.pipes is None:
            return
        self.pipes.report_custom_message({
            "event": "train_end",
            "global_steps": state.global_step,
            "max_steps": state.max_steps,
            "epochs": float(state.epoch or 0),
            "train_runtime_s": time.perf_counter() - self._t0,
            "tokens_total": self.last.get("tokens_total"),
            "tokens_trainable": self.last.get("tokens_trainable"),
        })
        self._stack.close()
        self.pipes = None


class PipesPlugin(BasePlugin):
    """Axolotl plugin: registers `PipesCallback` on the trainer."""

    def add_callbacks_post_trainer(self, cfg, trainer):
        return [PipesCallback()]


def probe() -> dict:
    import torch

    def has(name):
        return importlib.util.find_spec(name) is not None

    import axolotl
    import transformers

    return {
        "cuda": torch.cuda.is_available(),
        "n_gpu": torch.cuda.device_count(),
        "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
        "flash_attn": has("flash_attn") and torch.cuda.is_available(),
        "deepspeed": has("deepspeed"),
        "liger_kernel": has("liger_kernel"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "axolotl": axolotl.__version__,
    }


def validate(path: str, capabilities: dict | None) -> dict:
    """Axolotl's own schema check (plus capability checks when a target GPU is described)."""
    import yaml
    from axolotl.utils.config import prepare_plugins, validate_config
    from axolotl.utils.dict import DictDefault

    with open(path, encoding="utf-8") as handle:
        cfg = DictDefault(yaml.safe_load(handle))
    prepare_plugins(cfg)
    env = {"torch_version": __import__("torch").__version__.split("+")[0]} if capabilities else None
    validated = validate_config(cfg, capabilities=capabilities, env_capabilities=env)
    return json.loads(json.dumps(validated.to_dict() if hasattr(validated, "to_dict") else dict(validated), default=str))


def main(argv: list[str]) -> int:
    if argv[:1] == ["probe"]:
        print(json.dumps(probe()))
        return 0
    if argv[:1] == ["validate"] and len(argv) >= 2:
        caps = None
        args = argv[1:]
        if "--capabilities" in args:
            at = args.index("--capabilities")
            caps = json.loads(args[at + 1])
            args = args[:at] + args[at + 2 :]
        status = 0
        for path in args:  # one import of axolotl for many configs: one JSON line per config
            try:
                print(json.dumps({"ok": True, "path": path, "config": validate(path, caps)}), flush=True)
            except Exception as exc:  # the parent shows this message to the user
                print(json.dumps({"ok": False, "path": path, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
                status = 1
        return status
    print("usage: luth_axolotl_pipes.py probe | validate CONFIG.yaml... [--capabilities JSON]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
