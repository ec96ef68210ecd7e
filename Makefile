# The two front-door commands: `make run` and `make test`. Each creates .venv itself and installs
# the exact versions of requirements.lock (and requirements-dev.lock for the tests), hashes checked.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# uv only resolves the lock files (`make lock`); installing them needs nothing but pip.
COMPILE := $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --upgrade --quiet --custom-compile-command "make lock"

.PHONY: run chat test lint demo doctor bench lock clean

$(VENV)/.run-installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock $(VENV)/.run-installed
	$(PIP) install --quiet --require-hashes -r requirements-dev.lock
	touch $@

## Set up and start the bot (console chat when no platform token is configured).
run: $(VENV)/.run-installed
	$(VENV)/bin/venice-bots run

chat: $(VENV)/.run-installed
	$(VENV)/bin/venice-bots chat

doctor: $(VENV)/.run-installed
	$(VENV)/bin/venice-bots doctor

## Lint (ruff), check formatting, types (mypy) and the Dockerfile (hadolint).
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

## Set up, lint and type-check, then run every test offline.
test: lint
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
	$(PY) bench/privacy.py
	$(PY) bench/crash.py
	$(PY) bench/vectors.py
	$(PY) bench/cost.py
	$(PY) bench/scale.py
	$(PY) bench/web.py
	$(PY) bench/tools.py

## Re-resolve both lock files to the newest versions pyproject.toml allows (for every supported
## Python and platform); the dev lock keeps the runtime lock's versions of the packages they share.
lock: $(VENV)/bin/uv
	$(COMPILE) -o requirements.lock
	$(COMPILE) --extra dev -c requirements.lock -o requirements-dev.lock

$(VENV)/bin/uv:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet 'uv>=0.9,<1'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache build dist *.egg-info
