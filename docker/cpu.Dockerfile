# syntax=docker/dockerfile:1
# Orchestrator / CPU image: the `.venv` stack (Dagster webserver, daemon, code server, run workers
# of the data stages), installed exactly as the Makefile's `.venv` (torch 2.13.0 CPU first, then the
# project with constraints/cpu.txt). Build: `make images` (README § Run on a cluster).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/luth
COPY pyproject.toml README.md ./
COPY constraints/ constraints/
COPY luth_pipeline/ luth_pipeline/
# torch from PyTorch's CPU index (2.13.0+cpu satisfies constraints/cpu.txt's torch==2.13.0): the CUDA
# build from PyPI would add gigabytes that no CPU step uses.
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir pip==25.3 \
    && .venv/bin/pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && .venv/bin/pip install --no-cache-dir -c constraints/cpu.txt -e .

FROM ${PYTHON_IMAGE}
# Non-root; a home for the store mirror (~/.cache/luth/store) and the HF cache.
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin luth \
    && mkdir -p /opt/dagster/dagster_home && chown luth /opt/dagster/dagster_home
WORKDIR /opt/luth
# The editable install resolves configs/ against the source tree: both travel together.
COPY --from=build /opt/luth /opt/luth
COPY configs/ configs/
COPY workspace.yaml dagster.yaml ./
ENV PATH=/opt/luth/.venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PYTHONUNBUFFERED=1
USER 10001
# The Helm chart / ECS task definition give the command (code server, webserver, daemon, run worker).
CMD ["dagster", "api", "grpc", "--module-name", "luth_pipeline.definitions", "--host", "0.0.0.0", "--port", "3030"]
