# The README's two commands: `make demo` (the main job) and `make test` (the project's tests).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB := .lab

.PHONY: demo test setup lint lab-up lab-down bench bench-faults clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install -q -r requirements.lock -e .
	touch $@

setup: $(VENV)/.installed
	scripts/lab-packages.sh

demo: setup
	$(BIN)/notifier-runbook demo --lab-dir $(LAB)

test: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	scripts/run-tests.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/verify.py

# The fault catalogue's figures: caught, exact, misattributed, repaired by perform (~12 min).
bench-faults: setup
	$(BIN)/python bench/faults.py

lab-up: setup
	$(BIN)/notifier-runbook lab up --lab-dir $(LAB)

lab-down: setup
	$(BIN)/notifier-runbook lab down --lab-dir $(LAB)

clean:
	rm -rf reports $(LAB)
