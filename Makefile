# Outreach: the two commands are `make run` and `make test`.
# Every tool is called by its .venv/bin path, so nothing needs activating.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Stamps: reinstall only when pyproject.toml changes.
INSTALLED      := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test

.PHONY: run test lint bench drill clean venv install install-test test-deps

run: $(INSTALLED)
	$(BIN)/outreach db upgrade
	$(BIN)/outreach up

test: test-deps
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest

lint: $(INSTALLED_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(INSTALLED_TEST)
	@found=0; for script in bench/*.py; do \
		[ -e "$$script" ] || continue; \
		case "$$(basename "$$script")" in _*) continue;; esac; found=1; \
		echo "== $$script"; $(BIN)/python "$$script" || exit 1; \
	done; [ $$found = 1 ] || echo "no benchmarks in bench/ yet"

# Minutes of random kills of the worker's whole process tree, at the default sweep
# interval; prints delivered, duplicates, unknown and the time to recover.
drill: test-deps
	OUTREACH_DRILL_SECONDS=$${OUTREACH_DRILL_SECONDS:-300} OUTREACH_DRILL_SWEEP_INTERVAL=30 \
		$(BIN)/pytest tests/drill -k random -s -n 0

# System packages the test servers need (Debian; skipped when present or not root).
test-deps:
	scripts/install-test-deps.sh
	$(MAKE) --no-print-directory $(INSTALLED_TEST)

install: $(INSTALLED)
install-test: $(INSTALLED_TEST)
venv: $(BIN)/python

# Debian's python3 has no venv module without python3-venv: install it when root can.
$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		rm -rf $(VENV); \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "python3-venv is missing; installing it"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -q --no-install-recommends python3-venv \
			&& $(PYTHON) -m venv $(VENV); \
		else \
			echo "cannot create $(VENV): install python3-venv (apt-get install python3-venv)" >&2; \
			exit 1; \
		fi; }
	$(BIN)/python -m pip install -q --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(INSTALLED_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(INSTALLED)

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache test-artifacts bench/results
	find . -path ./$(VENV) -prune -o -name '__pycache__' -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name '*.egg-info' -type d -prune -exec rm -rf {} +
