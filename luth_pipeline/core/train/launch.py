"""The light engine on several GPUs: `torchrun` starts one process per device (DDP).

The parent (the asset's process) writes a job file — model path, packed bins (Parquet),
settings — and runs `python -m torch.distributed.run --standalone --nproc_per_node N -m
luth_pipeline.core.train.launch <job.json>`. Every child runs the same `train_light`; the
Trainer sees torchrun's RANK/WORLD_SIZE and wraps the model in DDP (NCCL on GPUs, gloo on CPU),
accelerate gives each rank its own micro-batches, and the loss is normalised by the token count
of the whole global batch, so N processes × micro-batch m × accumulation a/N trains exactly what
one process does with m × a. Rank 0 streams each logged step as one `LUTH_STEP <json>` line on
stdout, saves the final model and writes the run's result next to the job file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

STEP_PREFIX = "LUTH_STEP "


def launch_command(job_file: Path, num_processes: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(num_processes),
            "-m", "luth_pipeline.core.train.launch", str(job_file)]


def write_job(folder: Path, model_path: str, table, settings, output_dir: Path) -> Path:
    """The job file and the bins it names (the `input_ids/labels/position_ids` columns of the table)."""
    folder.mkdir(parents=True, exist_ok=True)
    bins = folder / "bins.parquet"
    table.select("input_ids", "labels", "position_ids").write_parquet(bins)
    job = {"model_path": model_path, "bins": str(bins), "settings": asdict(settings), "output_dir": str(output_dir),
           "final_model": str(folder / "final_model"), "result": str(folder / "result.json")}
    path = folder / "job.json"
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


def run_distributed(job_file: Path, num_processes: int, log: Callable[[str], None] = print,
                    on_step: Callable | None = None, env: dict | None = None) -> dict:
    """Run the job on `num_processes` processes; returns rank 0's result (summary, history, settings)."""
    from luth_pipeline.core.train.metrics import StepRecord

    command = launch_command(job_file, num_processes)
    log("light engine, data parallel: " + " ".join(command))
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[3]), child_env.get("PYTHONPATH")]))
    tail: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env) as proc:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(STEP_PREFIX):
                record, logs = json.loads(line[len(STEP_PREFIX):])
                if on_step is not None:
                    on_step(StepRecord(**record), logs)
                continue
            tail = (tail + [line])[-40:]
            log(line)
    if proc.returncode != 0:
        raise RuntimeError(f"distributed light training failed (exit {proc.returncode}); last output:\n" + "\n".join(tail))
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    return json.loads(Path(job["result"]).read_text(encoding="utf-8"))


def _print_step(record, logs: dict) -> None:
    print(STEP_PREFIX + json.dumps([asdict(record), logs], default=str), flush=True)


def main(job_file: str) -> None:
    import polars as pl
    import torch.distributed as dist

    from luth_pipeline.core.train.checkpoint import save_trained_model
    from luth_pipeline.core.train.light import LightTrainSettings, train_light
    from luth_pipeline.core.train.packed import PackedDataset

    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    rank = int(os.environ.get("RANK", "0"))
    dataset = PackedDataset(pl.read_parquet(job["bins"]).iter_rows(named=True))
    settings = LightTrainSettings(**job["settings"])
    result = train_light(job["model_path"], dataset, settings, Path(job["output_dir"]), resume=True,
                         on_step=_print_step if rank == 0 else None)
    if rank == 0:
        save_trained_model(result.model, result.tokenizer, Path(job["final_model"]), job["model_path"])
        history = [asdict(r) for r in result.history]
        Path(job["result"]).write_text(json.dumps({"summary": result.summary, "history": history, "settings": result.settings},
                                                  default=str), encoding="utf-8")
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
