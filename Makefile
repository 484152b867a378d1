# Baton: two commands. `make run` starts Baton (or, without Slack credentials, the local sandbox),
# `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest workers for `make test` (pytest-xdist): the suite mostly waits on real processes and HTTP, so two
# workers halve it on a 2-core machine; `make test TEST_WORKERS=0` runs it in one process.
TEST_WORKERS ?= 2

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

# The browser tests drive Debian's chromium (no browser download: this machine's network is closed). Installed
# when missing and this user may (root with apt-get); otherwise those tests say why they are skipped.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && \
		apt-get install -y -q chromium >/dev/null 2>&1; } || echo "chromium could not be installed"; \
	else echo "chromium is not installed (apt-get install chromium): the browser tests will be skipped"; fi

test: $(STAMP) | $(CHROMIUM)
	$(BIN)/ruff check bot tests bench
	$(BIN)/mypy bot
	$(BIN)/mypy bench/*.py  # the scripts import each other as top-level modules (bench/ is a script's directory)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=15

check: $(STAMP)
	$(BIN)/python -m bot check

bench: $(STAMP)
	$(BIN)/python bench/ack.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-artifacts
