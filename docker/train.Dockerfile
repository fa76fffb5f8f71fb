# syntax=docker/dockerfile:1
# Training image: the run worker (`.venv`, CPU torch: it only orchestrates) + the Axolotl + DeepSpeed
# stack (`.venv-train`, CUDA torch from PyPI) that finetuned_checkpoint launches through Dagster
# Pipes. Both environments are installed exactly as the Makefile installs them.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.7

FROM ${UV_IMAGE} AS uv

FROM ${CUDA_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=uv /uv /usr/local/bin/uv
# A self-contained CPython 3.11 (python-build-standalone), the version CI's venvs run.
RUN uv python install 3.11.14 --install-dir /opt/python \
    && ln -s "$(uv python find --managed-python 3.11.14)" /opt/python/python3.11
WORKDIR /opt/luth
COPY pyproject.toml README.md ./
COPY constraints/ constraints/
COPY luth_pipeline/ luth_pipeline/
RUN /opt/python/python3.11 -m venv .venv \
    && .venv/bin/pip install --no-cache-dir pip==25.3 \
    && .venv/bin/pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && .venv/bin/pip install --no-cache-dir -c constraints/cpu.txt -e .
# DS_BUILD_OPS=0: DeepSpeed stays pure Python (ZeRO-1 with a torch optimizer needs none of its ops).
RUN /opt/python/python3.11 -m venv .venv-train \
    && .venv-train/bin/pip install --no-cache-dir pip==25.3 \
    && .venv-train/bin/pip install --no-cache-dir torch==2.13.0 \
    && DS_BUILD_OPS=0 .venv-train/bin/pip install --no-cache-dir -c constraints/train.txt 'axolotl[deepspeed]==0.19.*' 'deepspeed==0.18.9' dagster-pipes

FROM ${CUDA_IMAGE}
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin luth \
    && mkdir -p /opt/dagster/dagster_home && chown luth /opt/dagster/dagster_home
COPY --from=build /opt/python /opt/python
WORKDIR /opt/luth
COPY --from=build /opt/luth /opt/luth
COPY configs/ configs/
COPY workspace.yaml dagster.yaml ./
# `axolotl train` calls `accelerate` from PATH: .venv-train's bin after the run worker's.
ENV PATH=/opt/luth/.venv/bin:/opt/luth/.venv-train/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PYTHONUNBUFFERED=1
USER 10001
CMD ["dagster", "api", "grpc", "--module-name", "luth_pipeline.definitions", "--host", "0.0.0.0", "--port", "3030"]
