# The two commands: `make run` (set up, then run the pipeline) and `make test`.
# Each target syncs the locked environment first; uv is installed if it is missing.

SHELL := /bin/bash
PYTHON ?= python3
# uv on PATH, else the one `python3 -m pip install uv` puts in the interpreter.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV_BIN := $(CURDIR)/.venv/bin
# Stage commands in dvc.yaml call `python`: put the project's environment first.
export PATH := $(VENV_BIN):$(PATH)

.PHONY: setup run test lint ui check-repro bench server server-stop

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process
# would otherwise recompile TensorFlow's and MLflow's sources on import, seconds each time.
setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked --all-extras --compile-bytecode

run: setup
	dvc repro

test: setup
	pytest

# Same inputs, same outputs: the whole pipeline twice on a clean clone of HEAD (see README).
check-repro: setup
	mnist-pipeline check-repro

# Side-by-side timings against the plain-script notebook; writes BENCHMARKS.md.
bench: setup
	python benchmarks/bench.py

# A local team tracking server (PostgreSQL + mlflow server on 127.0.0.1:5000); see README.
server: setup
	server/mlflow-server.sh start

server-stop:
	server/mlflow-server.sh stop

lint: setup
	ruff check .
	ruff format --check .

# The MLflow UI on the project's store: prints the experiment's runs page, then serves it.
ui: setup
	mnist-pipeline ui
