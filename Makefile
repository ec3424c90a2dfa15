# The two commands of the README: `make results` and `make test`.
# Both create (or reuse) .venv from requirements.lock, so a fresh machine needs only python3.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KERNEL := cvgl-study
STAMP  := $(VENV)/.installed
PROFILE ?= cpu
ARGS ?=

export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: results test lint env clean-scratch

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

lint: $(STAMP)
	$(BIN)/ruff check cvgl_core tests benchmarks tools notebooks
	$(BIN)/ruff format --check cvgl_core tests benchmarks tools notebooks
	$(BIN)/python tools/check_notebooks.py notebooks

# Linter, formatter check, output-free notebooks, then the suite (which runs every notebook at smoke).
test: lint
	$(BIN)/python -m pytest $(ARGS)

clean-scratch:
	rm -rf .scratch
