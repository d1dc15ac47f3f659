# The two commands: `make run` (set up, then run the pipeline) and `make test` (the fast
# tier); `make test-all` runs every test. Each target syncs the locked environment first;
# uv is installed if it is missing.

SHELL := /bin/bash
PYTHON ?= python3
# uv on PATH, else the one `python3 -m pip install uv` puts in the interpreter.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV_BIN := $(CURDIR)/.venv/bin
# Stage commands in dvc.yaml call `python`: put the project's environment first.
export PATH := $(VENV_BIN):$(PATH)

.PHONY: setup run test test-all lint ui check-repro bench server server-stop tuned tuned-fashion seeds seeds-fashion tune

# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process
# would otherwise recompile TensorFlow's and MLflow's sources on import, seconds each time.
setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --quiet --locked --all-extras --compile-bytecode

# Then publish: complete the model's MLflow run (DVC skips evaluate and plot on a fresh clone)
# and register it, the gate deciding on the champion. No stage registers (docs/use-the-model.md).
run: setup
	dvc repro
	mnist-pipeline publish

# The fast tier: unit tests and one `dvc repro` of the real pipeline on tiny data, no
# server, in a few minutes on 2 cores: test files spread over the cores (pytest-xdist; a
# file's tests share its fixtures, the repro's file goes first). TEST_WORKERS=0: one process.
TEST_WORKERS ?= auto
test: setup
	pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Every test: the fast tier (above), then the slow one, in one process (real training, DVC
# experiments and queues, studies, the browser's pages, full MNIST when its mirror is there,
# the tracking server's when .ci/run starts one). `make test test-all` (as .ci/run calls it)
# runs the fast tier once.
test-all: test
	pytest -m slow

# Same inputs, same outputs: the whole pipeline twice on a clean clone of HEAD (docs/reproducibility.md).
check-repro: setup
	mnist-pipeline check-repro

# A named configuration of configs.yaml (docs/better-models.md; `tuned` by default, chosen on
# the validation set) as a named DVC experiment run in a temporary copy of HEAD (the
# workspace stays as it is), its MLflow run named the same. An earlier experiment of that
# name from this commit is replaced (DVC refuses a taken name); its MLflow run stays.
# `make tuned-fashion` is `make tuned CONFIG=tuned-fashion`. More overrides, another name:
#   make tuned NAME=tuned-e30 ARGS='-S train.epochs=30'     make tuned CONFIG=tuned-large
CONFIG ?= tuned
NAME ?= $(CONFIG)
ARGS ?=
# The -S arguments of configuration $(1), from `mnist-pipeline config` as the recipe is
# expanded (after setup; `make -n` shows them); make stops if it failed (its line above).
config_overrides = $(shell $(VENV_BIN)/mnist-pipeline config $(1))$(if \
	$(filter 0,$(.SHELLSTATUS)),,$(error configuration $(1): no -S arguments, see above))
# $(1): experiment name, $(2): configuration, $(3): more overrides (a later -S of a key wins).
# Only the experiment of that name from this commit is replaced: by its full ref, as a bare
# `dvc exp remove tuned` removes the one `tuned` of any commit (another branch's).
define run_config
	@ref=refs/exps/$$(git rev-parse HEAD | sed 's|^..|&/|')/$(1); \
	if git show-ref --quiet --verify "$$ref"; then \
		dvc exp remove "$$ref" && echo "removed the earlier experiment $(1) of this commit"; fi
	dvc exp run --temp -n $(1) $(call config_overrides,$(2)) $(3)
	dvc exp show --no-pager --drop '.*' --keep 'Experiment|test\.accuracy|test\.loss|data\.dataset'
endef

tuned-fashion: CONFIG = tuned-fashion
tuned tuned-fashion: setup
	$(call run_config,$(NAME),$(CONFIG),$(ARGS))

# $(1) run by WORKERS `mnist-pipeline` processes at once (one Optuna study: they share its
# trials), each line of output marked with its worker; fails if any failed.
WORKERS ?= 2
define workers
(pids=""; for i in $$(seq $(WORKERS)); do \
	(mnist-pipeline $(1) 2>&1 | sed -u "s/^/[worker $$i] /"; exit $${PIPESTATUS[0]}) & \
	pids="$$pids $$!"; done; \
status=0; for pid in $$pids; do wait $$pid || status=1; done; exit $$status)
endef

# The seed spread of configurations of configs.yaml (docs/better-models.md "Seed spread"): a
# replicate group per configuration (`mnist-pipeline replicate`), WORKERS workers sharing its
# seeds; each seed a DVC experiment <group>-seed<k>, each group an MLflow parent run whose
# metrics are each test metric's mean, sd and 95% interval. A rerun resumes the groups of this
# commit; more seeds extend them. seeds-fashion: the same on Fashion-MNIST (offline:
# MNIST_PIPELINE_MIRROR at its IDX files).
#   make seeds SEEDS=1-10    make seeds SEED_CONFIGS=tuned-large WORKERS=1
SEEDS ?= 1-7
SEED_CONFIGS ?= reference tuned
seeds-fashion: SEED_CONFIGS = reference-fashion tuned-fashion
seeds seeds-fashion: setup
	@for config in $(SEED_CONFIGS); do \
		$(call workers,replicate $$config --seeds $(SEEDS)) || exit 1; done

# The hyperparameter search of search.yaml (docs/hyperparameter-search.md): WORKERS workers
# of one Optuna study on this machine; more machines join with `mnist-pipeline tune`
# against the same storage. Exit 1 if any failed.
#   make tune WORKERS=1 TUNE_ARGS='--storage postgresql+psycopg2://...'
TUNE_ARGS ?=
tune: setup
	@$(call workers,tune $(TUNE_ARGS))

# Side-by-side timings against the plain-script notebook; writes BENCHMARKS.md.
bench: setup
	python benchmarks/bench.py

# A local team tracking server (PostgreSQL + mlflow server with users, on 127.0.0.1:5000; the
# admin's password in .server/secrets/admin-password); see docs/team.md.
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
