# The commands of the README: `make results`, `make test` and `make lab`.
# Each creates (or reuses) .venv from requirements.lock, so a fresh machine needs only python3.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KERNEL := cvgl-study
STAMP  := $(VENV)/.installed
PROFILE ?= cpu
ARGS ?=

export HF_HUB_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: results test lint env lab clean-scratch

# The stamp is rebuilt when the lock or the package metadata changes.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (cvgl-study)" >/dev/null
	touch $(STAMP)

env: $(STAMP)

# Every notebook at the cpu profile on the synthetic world; fills results/.
results: $(STAMP)
	$(BIN)/python -m cvgl_core notebooks --profile $(PROFILE) $(ARGS)

# JupyterLab on the project's .venv; open any notebook and pick the "Python (cvgl-study)" kernel
# (the notebooks are saved with it). LAB_ARGS, e.g. LAB_ARGS="--no-browser --port 8890".
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=. $(LAB_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check cvgl_core tests benchmarks tools notebooks
	$(BIN)/ruff format --check cvgl_core tests benchmarks tools notebooks
	$(BIN)/python tools/check_notebooks.py notebooks

# Linter, formatter check, output-free notebooks, then the suite (which runs every notebook at smoke).
test: lint
	$(BIN)/python -m pytest --durations=15 $(ARGS)

clean-scratch:
	rm -rf .scratch
