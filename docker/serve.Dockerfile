# syntax=docker/dockerfile:1
# Serving / eval image: vLLM + LightEval (`.venv-serve`, vLLM's own CUDA torch) with the project in
# the same environment, so the run worker itself can generate with offline vLLM (Tulu), merge on
# CUDA (mergekit) and evaluate (eval.python = .venv-serve/bin/python); `vllm serve` runs from it too.
# Installed exactly as the Makefile's `.venv-serve`.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.7

FROM ${UV_IMAGE} AS uv

FROM ${CUDA_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=uv /uv /usr/local/bin/uv
RUN uv python install 3.11.14 --install-dir /opt/python \
    && ln -s "$(uv python find --managed-python 3.11.14)" /opt/python/python3.11
WORKDIR /opt/luth
COPY pyproject.toml README.md ./
COPY luth_pipeline/ luth_pipeline/
# vLLM first; its torch/transformers/triton are then held while the project installs.
RUN /opt/python/python3.11 -m venv .venv-serve \
    && .venv-serve/bin/pip install --no-cache-dir pip==25.3 \
    && .venv-serve/bin/pip install --no-cache-dir 'vllm>=0.32,<0.34' \
    && .venv-serve/bin/pip freeze | grep -iE '^(torch|transformers|triton)==' > .venv-serve/held.txt \
    && .venv-serve/bin/pip install --no-cache-dir -c .venv-serve/held.txt -e '.[serve]' \
    && .venv-serve/bin/python -m nltk.downloader -d /opt/luth/nltk_data -q punkt punkt_tab

FROM ${CUDA_IMAGE}
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin luth \
    && mkdir -p /opt/dagster/dagster_home && chown luth /opt/dagster/dagster_home
COPY --from=build /opt/python /opt/python
WORKDIR /opt/luth
COPY --from=build /opt/luth /opt/luth
COPY configs/ configs/
COPY workspace.yaml dagster.yaml ./
ENV PATH=/opt/luth/.venv-serve/bin:$PATH \
    NLTK_DATA=/opt/luth/nltk_data \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PYTHONUNBUFFERED=1
USER 10001
CMD ["dagster", "api", "grpc", "--module-name", "luth_pipeline.definitions", "--host", "0.0.0.0", "--port", "3030"]
