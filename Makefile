# The two commands: `make run` (set up, then run the pipeline) and `make test`.
# Each target syncs the locked environment first; uv is installed if it is missing.

SHELL := /bin/bash
PYTHON ?= python3
# uv on PATH, else the one `python3 -m pip install uv` puts in the interpreter.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV_BIN := $(CURDIR)/.venv/bin
# Stage commands in dvc.yaml call `python`: put the project's environment first.
export PATH := $(VENV_BIN):$(PATH)

.PHONY: setup run test lint ui check-repro bench server server-stop tuned tuned-fashion seeds seeds-fashion tune

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process
# would otherwise recompile TensorFlow's and MLflow's sources on import, seconds each time.
setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --quiet --locked --all-extras --compile-bytecode

# Then publish: complete the model's MLflow run (DVC skips evaluate and plot on a fresh clone)
# and register it, the gate deciding on the champion. No stage registers (README).
run: setup
	dvc repro
	mnist-pipeline publish

test: setup
	pytest

# Same inputs, same outputs: the whole pipeline twice on a clean clone of HEAD (see README).
check-repro: setup
	mnist-pipeline check-repro

# The tuned configuration (README "Better models"), chosen on the validation set: a named
# DVC experiment run in a temporary copy of HEAD (the workspace stays as it is), its MLflow
# run named the same. An earlier experiment of that name from this commit is replaced (DVC
# refuses a taken name); its MLflow run stays. `make tuned-fashion` (experiment `tuned-fashion`) runs it
# on Fashion-MNIST with that dataset's own choice. More overrides, another name:
#   make tuned NAME=tuned-e30 ARGS='-S train.epochs=30'
TUNED := -S train.backend=jax -S train.epochs=20 -S train.lr_schedule=cosine \
	-S train.augment_shift=1 -S model.hidden_1.units=256 -S model.hidden_1.activation=relu \
	-S model.hidden_2.units=256
# Fashion-MNIST's own choice on top of it: shifted clothes hurt, dropout helps.
TUNED_FASHION := -S data.dataset=fashion_mnist -S train.augment_shift=0 -S train.epochs=30 \
	-S model.hidden_1.dropout=0.2 -S model.hidden_2.dropout=0.2
NAME ?= tuned
ARGS ?=
# $(1): experiment name, $(2): overrides after TUNED's (a later -S of a key wins). Only
# the experiment of that name from this commit is replaced: by its full ref, as a bare
# `dvc exp remove tuned` removes the one `tuned` of any commit (another branch's).
define run_tuned
	@ref=refs/exps/$$(git rev-parse HEAD | sed 's|^..|&/|')/$(1); \
	if git show-ref --quiet --verify "$$ref"; then \
		dvc exp remove "$$ref" && echo "removed the earlier experiment $(1) of this commit"; fi
	dvc exp run --temp -n $(1) $(TUNED) $(2)
	dvc exp show --no-pager --drop '.*' --keep 'Experiment|test\.accuracy|test\.loss|data\.dataset'
endef

tuned: setup
	$(call run_tuned,$(NAME),$(ARGS))

tuned-fashion: setup
	$(call run_tuned,$(if $(filter command,$(origin NAME)),$(NAME),tuned-fashion),$(TUNED_FASHION) $(ARGS))

# The seed spread of the reference and the tuned configuration: one `dvc exp run --temp` per
# seed and configuration, then benchmarks/seeds.csv and benchmarks/seeds.md (README table).
# seeds-fashion: the same on Fashion-MNIST (offline: MNIST_PIPELINE_MIRROR at its IDX files).
SEEDS ?= 1 2 3 4 5
seeds: setup
	python benchmarks/seeds.py --seeds $(SEEDS) --config reference "" --config tuned "$(TUNED)"

seeds-fashion: setup
	python benchmarks/seeds.py --seeds $(SEEDS) --config reference-fashion \
		"-S data.dataset=fashion_mnist" --config tuned-fashion "$(TUNED) $(TUNED_FASHION)"

# The hyperparameter search of search.yaml (README "Hyperparameter search"): WORKERS workers
# of one Optuna study on this machine, each line of output marked with its worker; more
# machines join with `mnist-pipeline tune` against the same storage. Exit 1 if any failed.
#   make tune WORKERS=1 TUNE_ARGS='--storage postgresql+psycopg2://...'
WORKERS ?= 2
TUNE_ARGS ?=
tune: setup
	@pids=""; for i in $$(seq $(WORKERS)); do \
		(mnist-pipeline tune $(TUNE_ARGS) 2>&1 | sed -u "s/^/[worker $$i] /"; exit $${PIPESTATUS[0]}) & \
		pids="$$pids $$!"; done; \
	status=0; for pid in $$pids; do wait $$pid || status=1; done; exit $$status

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
	mnist-pipeline ui --port $(or $(PORT),5000)
