# luth-pipeline: `make demo` and `make test` do all set-up themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CONSTRAINTS := constraints/cpu.txt
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export LUTH_PROFILE ?= local
# No hub exists on laptops/CI: every model and dataset is built or shipped locally.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
PYTEST_WORKERS ?= 2
PORT ?= 3000

.PHONY: help install demo test ui screenshots clean dagster-home system-deps images

help:
	@echo "make demo   - install, then materialize the whole asset graph with the local profile"
	@echo "make test   - install everything the tests need, then run them"
	@echo "make ui     - dagster dev on the same instance (http://127.0.0.1:3000; make ui PORT=3001)"
	@echo "make screenshots - after make demo: the README's web-UI pictures (docs/screenshots/) from that instance"
	@echo "make images - build the cluster images (docker/; IMAGE_REPO=..., PUSH=1 to push)"

# torch first (a CPU build from local disk), then the project with torch pinned so no
# dependency can pull a CUDA build.
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c $(CONSTRAINTS) -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# Axolotl + DeepSpeed in their own environment (they pin transformers/peft/accelerate/datasets/
# trl versions that clash with .venv): torch first, then axolotl with torch held by the
# constraints; DS_BUILD_OPS=0 keeps DeepSpeed pure Python (its CUDA ops JIT-build on GPU hosts).
VENV_TRAIN := .venv-train
$(VENV_TRAIN)/.installed: constraints/train.txt
	test -x $(VENV_TRAIN)/bin/python || $(PYTHON) -m venv $(VENV_TRAIN)
	$(VENV_TRAIN)/bin/pip install -q --upgrade pip
	$(VENV_TRAIN)/bin/pip install -q torch==2.13.0
	DS_BUILD_OPS=0 $(VENV_TRAIN)/bin/pip install -q -c constraints/train.txt 'axolotl[deepspeed]==0.19.*' 'deepspeed==0.18.9' dagster-pipes
	touch $@

# vLLM for GPU generation and evaluation (GPU hosts only; not part of `make test`). vLLM pins its
# own CUDA torch and transformers, so it gets its own environment: vLLM first, then the project
# (plain lighteval, not `lighteval[vllm]`, which pins vllm<0.10.2) with vLLM's torch and
# transformers held by a constraints file. Dagster reaches it through Pipes (eval.python in
# gpu.yaml), and Dagster itself can run from it for the offline-vLLM LLM endpoint.
VENV_SERVE := .venv-serve
$(VENV_SERVE)/.installed: pyproject.toml
	test -x $(VENV_SERVE)/bin/python || $(PYTHON) -m venv $(VENV_SERVE)
	$(VENV_SERVE)/bin/pip install -q --upgrade pip
	$(VENV_SERVE)/bin/pip install -q 'vllm>=0.32,<0.34'
	$(VENV_SERVE)/bin/pip freeze | grep -iE '^(torch|transformers|triton)==' > $(VENV_SERVE)/held.txt
	$(VENV_SERVE)/bin/pip install -q -c $(VENV_SERVE)/held.txt -e '.[serve]'
	$(VENV_SERVE)/bin/python -m nltk.downloader -q punkt punkt_tab
	touch $@

.PHONY: .venv-serve eval-gpu
.venv-serve: $(VENV_SERVE)/.installed

# Evaluate any HF checkpoint on the gpu profile's suites: make eval-gpu MODEL=Qwen/Qwen3-0.6B
eval-gpu: $(VENV_SERVE)/.installed
	LUTH_PROFILE=gpu HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 $(VENV_SERVE)/bin/python -m luth_pipeline.core.eval.evaluate $(MODEL)

dagster-home: $(VENV)/.installed
	@mkdir -p $(DAGSTER_HOME)
	@cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	@$(VENV)/bin/dagster instance concurrency set gpu 1 >/dev/null 2>&1 || true

demo: dagster-home
	$(VENV)/bin/luth demo

# Started from inside the instance folder: Dagster warns when the current folder holds a
# dagster.yaml (this repo's template) other than $(DAGSTER_HOME)'s. workspace.yaml's paths are
# relative to itself, so the code location loads the same from anywhere.
ui: dagster-home
	cd $(DAGSTER_HOME) && exec $(CURDIR)/$(VENV)/bin/dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $(PORT)

# The README's web-UI pictures (docs/screenshots/*.png) from the instance `make demo` filled: dagster dev
# on a free port, headless Chromium, dagster dev stopped again; nothing is launched, so it re-runs at will.
screenshots: dagster-home system-deps
	$(PY) docs/screenshots/take_screenshots.py

# Debian packages the e2e tests drive for real: headless Chromium (web UI test) and a
# PostgreSQL server (instance storage). Installed only when missing.
SYSTEM_DEPS := chromium chromium-driver postgresql
system-deps:
	@missing=$$(for p in $(SYSTEM_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

test: dagster-home system-deps $(VENV_TRAIN)/.installed
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --timeout=1800 --durations=15; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing loudly"; exit 1; fi; exit $$status

# Container images for a cluster (docker/*.Dockerfile; README § Run on a cluster):
#   make images IMAGE_REPO=registry.example.com/luth [IMAGE_TAG=...] [PUSH=1]
# builds luth-cpu, luth-train and luth-serve from this tree (and pushes them with PUSH=1).
IMAGE_REPO ?= luth
IMAGE_TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
IMAGES := cpu train serve
images:
	@command -v docker >/dev/null || { echo "make images needs Docker (docker build); none found on this machine"; exit 1; }
	@for image in $(IMAGES); do \
		docker build -f docker/$$image.Dockerfile -t $(IMAGE_REPO)/luth-$$image:$(IMAGE_TAG) . || exit 1; \
		if [ "$(PUSH)" = 1 ]; then docker push $(IMAGE_REPO)/luth-$$image:$(IMAGE_TAG) || exit 1; fi; \
	done

clean:
	rm -rf .dagster_home .luth_data .luth_work test-artifacts
