# The two front-door commands: `make run` and `make test`. Each creates .venv itself.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: run chat test demo doctor bench clean

$(VENV)/.run-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.run-installed
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

## Set up and start the bot (console chat when no platform token is configured).
run: $(VENV)/.run-installed
	$(VENV)/bin/venice-bots run

chat: $(VENV)/.run-installed
	$(VENV)/bin/venice-bots chat

doctor: $(VENV)/.run-installed
	$(VENV)/bin/venice-bots doctor

## Set up, lint and type-check, then run every test offline.
test: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

## The console chat against the offline fake Venice: no API key needed.
demo: $(VENV)/.dev-installed
	$(PY) -m tests.fakes.demo

bench: $(VENV)/.dev-installed
	$(PY) bench/core_overhead.py
	$(PY) bench/telegram.py
	$(PY) bench/discord.py
	$(PY) bench/ledger.py
	$(PY) bench/media.py
	$(PY) bench/operator.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .cache
