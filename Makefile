# Baton: two commands. `make run` starts Baton (or, without Slack credentials, the local sandbox),
# `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run sandbox test lint typecheck pytest check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot run

sandbox: $(STAMP)
	$(BIN)/python -m bot sandbox

test: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy bot
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/python -m bot check

bench: $(STAMP)
	$(BIN)/python bench/ack.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-artifacts
