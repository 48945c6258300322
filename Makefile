# `make run` starts the service; `make test` runs the test suite. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench clean

# The runtime set for `make run`; the development set (tests, lint) on top for the rest.
$(BIN)/.installed: requirements.txt client/pyproject.toml $(wildcard client/atm_client/*.py)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python run.py

test: $(BIN)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/.installed-dev
	$(BIN)/python bench/sync_requests.py

clean:
	rm -rf data .pytest_cache
