#!/usr/bin/env bash
# Issue 13's GPU measurements, one stage per device call (each well inside the 10-minute limit).
#
# The H200 image has torch 2.11+cu130, transformers 5.17, triton, accelerate, pytest, but not
# liger-kernel nor what the test suite imports (polars, pydantic, ...). Before the first call, on
# the CPU host in the repo root (see /work/.library/device/README.md, Notes):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     'liger-kernel>=0.6,<1' polars polars-runtime-32 pydantic pydantic-core annotated-types typing-inspection \
#     pyyaml dill zstandard
# then per stage:  run(command="bash benchmarks/gpu/run_h200.sh <stage>", carry=[".whl"], timeout_s=540)
#
# Stages (run them in this order; `bench06` and `bench17` print the markdown table for RESULTS.md):
#   tests    the gpu-marked packed-loss tests (every CUDA backend, fp32 and bf16 autocast) + precision test
#   bench06  Qwen3-0.6B at 4096 and 16384: plain HF vs engine auto (flex) vs sdpa dense mask, Liger on
#   bench17  Qwen3-1.7B at 16384: engine auto on the full H200, then capped at 80 GiB (the H100 case:
#            the memory estimate must switch gradient checkpointing on and the run must not OOM)
#   profile  one timed 16k step of 0.6B with the engine's auto backend: kernel table (where the 4k→16k drop goes)
set -uo pipefail
stage=${1:?stage: tests|bench06|bench17|profile}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
git log -1 --format='commit %H %cd' 2>/dev/null | tee -a "$OUT/gpu.txt"
bench="python3 benchmarks/train_throughput.py --steps 8 --warmup 3"
case "$stage" in
  tests)
    python3 -m pytest -p no:cacheprovider -q -rs -n 0 luth_pipeline_tests/core/train/test_packed_cuda.py luth_pipeline_tests/core/train/test_attention.py \
      luth_pipeline_tests/core/train/test_precision.py 2>&1 | tee "$OUT/gpu_tests.txt" ;;
  bench06)
    $bench --models qwen3-0.6b --seqs 4096,16384 --attn auto,sdpa --liger on \
      --json "$OUT/bench06.json" 2>&1 | grep -v -i warn | tee "$OUT/bench06.txt" ;;
  bench17)
    $bench --models qwen3-1.7b --seqs 16384 --attn auto --liger on --no-baseline \
      --json "$OUT/bench17_h200.json" 2>&1 | grep -v -i warn | tee "$OUT/bench17_h200.txt"
    $bench --models qwen3-1.7b --seqs 16384 --attn auto --liger on --no-baseline --memory-budget-gib 80 \
      --json "$OUT/bench17_80g.json" 2>&1 | grep -v -i warn | tee "$OUT/bench17_80g.txt" ;;
  profile)
    python3 benchmarks/train_throughput.py --models qwen3-0.6b --seqs 16384 --steps 2 --warmup 3 --attn auto --liger on \
      --no-baseline --profile "$OUT/profile16k" 2>&1 | grep -v -i warn | tee "$OUT/profile.txt"
    rm -f "$OUT/profile16k/trace.json" ;;  # too big to bring back; kernels.txt holds the table
  *) echo "unknown stage $stage"; exit 2 ;;
esac
