# One entry point for setting up and testing orchestrate.platform.
#   make setup   - Python venv (.venv) with Ansible, the bundled collections and the test tools
#   make deps    - the Debian packages the tests need (scripts/install-system-deps.sh; sudo when not root)
#   make test    - everything CI runs: deps; lint beside syntax; pytest (unit, args, render, docs, live*); the live Galera scenarios beside molecule
# (* live tests skip with a reason unless KUBECONFIG / GCP credentials are set)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PLAYBOOKS := site.yml $(wildcard playbooks/*.yml)
SCENARIOS := $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export CONTAINERS_CONF := $(CURDIR)/molecule/containers.conf
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: deps setup test lint syntax pytest pytest-main galera-live molecule molecule-roles render benchmark render-time network-matrix role-docs dashboards clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

setup: $(STAMP)

# First prerequisite of `make test`: installs what is missing (or stops at once with the exact
# command to run as root) before minutes of tests, not after.
deps:
	scripts/install-system-deps.sh test

lint: setup
	yamllint --strict .
	ansible-lint

syntax: setup
	for playbook in $(PLAYBOOKS); do ansible-playbook --syntax-check "$$playbook" >/dev/null || { echo "syntax-check failed: $$playbook"; exit 1; }; done
	@echo "syntax-check: $(words $(PLAYBOOKS)) playbooks ok"

# The docs test parses every Mermaid diagram with the real parser when npm could install it
# (scripts/install-system-deps.sh installs node and npm); without npm that test skips, saying so.
MERMAID := build/docs-mermaid/.installed
$(MERMAID): tests/docs/mermaid/package.json tests/docs/mermaid/package-lock.json
	if command -v npm >/dev/null 2>&1; then tests/docs/mermaid/install.sh >/dev/null && touch $@; \
	else echo "npm not found: the Mermaid parser test will be skipped"; fi

# Every core (two on the reference machine): playbook runs write only to their own temporary
# directories, and the tests of one shared render stay on one worker (tests/conftest.py).
# The live Galera scenarios (tests/galera_live) share one cluster of real processes in fixed
# network namespaces and run in order: they run after the rest, in one process of their own.
PYTEST_WORKERS ?= auto
pytest: pytest-main
	$(MAKE) --no-print-directory galera-live

pytest-main: setup $(MERMAID)
	pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not galera_live"

galera-live: setup
	pytest -m galera_live tests/galera_live

# CI runs the combined scenario (the three node roles in cluster order: check mode, converge,
# idempotence, verify); the per-role scenarios are for working on one role.
molecule: setup
	molecule test -s node

molecule-roles: setup
	for scenario in $(filter-out node,$(SCENARIOS)); do molecule test -s "$$scenario"; done

render: setup
	ansible-playbook playbooks/render.yml

# Not part of `test`: a timed run on a shared machine is noise. Needs KUBECONFIG (and KUBECTL, a
# kubectl of the API server's minor); BENCHMARK_ARGS e.g. "--copies 1,3 --repeat 3 --stages --json build/bench.json".
BENCHMARK_ARGS ?=
benchmark: setup
	$(BIN)/python benchmarks/engine.py $(BENCHMARK_ARGS)

# Render time of site.yml and playbooks/render.yml (docs/reports/render-time.md); against an
# earlier commit: RENDER_TIME_ARGS="--baseline DIR" with DIR from `git archive <commit> | tar -x -C DIR`.
render-time: setup
	$(BIN)/python benchmarks/render_time.py $(RENDER_TIME_ARGS)

network-matrix: setup
	$(BIN)/python scripts/gen-network-matrix.py

dashboards: setup
	$(BIN)/python scripts/gen-dashboards.py

role-docs: setup
	$(BIN)/python scripts/gen-role-docs.py

# `make test`: deps, then three steps; within a step the parts share nothing and run side by side (two
# jobs, each part's output printed whole when it ends; the first failure still fails the step):
# lint and syntax each keep one core busy; the Galera scenarios (processes in network namespaces
# of their own) and molecule (a podman container with its own network namespace) mostly wait,
# on state transfers and timeouts and on one podman exec per task. The xdist part of pytest uses
# every core and runs alone. README.md ("Tests") says how long each part takes.
PARALLEL := $(MAKE) --no-print-directory -j2 --output-sync=target
test: deps
	$(PARALLEL) lint syntax
	$(MAKE) --no-print-directory pytest-main
	$(PARALLEL) galera-live molecule

clean:
	rm -rf build .pytest_cache
