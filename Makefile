# `make run` installs and runs the whole system; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install translations run test test-quick lint bench bench-scale

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations

# The pages' Vietnamese (and any other language): the .po catalogues compiled to .mo.
translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d dashboard/translations

run: install
	$(PY) run.py

# The whole suite twice: on the embedded defaults, then on the production engines
# (tests/engines.py reads the two switches; each run makes and drops its own database and vhost).
test: install
	bash scripts/ensure-chromium
	TEST_DATABASE=sqlite TEST_BROKER=redis $(PY) -m pytest $(PYTEST_ARGS)
	TEST_DATABASE=postgresql TEST_BROKER=rabbitmq $(PY) -m pytest $(PYTEST_ARGS)

# One run on SQLite and Redis only, for a machine without PostgreSQL or RabbitMQ.
test-quick: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Style, and the layer contract of dashboard/ (docs/architecture.md).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) bench/csv_campaign.py $(BENCH_ARGS)

# The issue's 100,000-message campaign with 1, 2 and 4 workers on each database + broker pair.
bench-scale: install
	$(PY) bench/scale.py $(BENCH_ARGS)
