# `make run` installs and runs the whole system; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install install-dev translations run test test-quick test-sqs lint bench bench-scale

# What the system needs to run; the test tools (requirements-dev.txt) come with `make test`.
$(VENV)/.installed: requirements.txt
	@echo "Installing what the dispatcher needs into $(VENV) (the first time takes a minute or two)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	@echo "Installing the test and lint tools..."
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations

# The pages' Vietnamese (and any other language): the .po catalogues compiled to .mo.
translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d dashboard/translations

install-dev: $(VENV)/.installed-dev

run: install
	$(PY) run.py

# The whole suite twice, side by side: on the embedded defaults and on the production engines
# (tests/engines.py reads the two switches; each run makes and drops its own database and vhost),
# then the SQS subset (`-m sqs`) with Amazon SQS emulated by moto on 127.0.0.1:5003.
test: install-dev
	bash scripts/ensure-chromium
	PY=$(PY) bash scripts/test-engine-pairs $(PYTEST_ARGS)
	TEST_DATABASE=sqlite TEST_BROKER=sqs $(PY) -m pytest -m sqs $(PYTEST_ARGS)

# The SQS subset alone (starts moto on 127.0.0.1:5003 itself when nothing listens there).
test-sqs: install-dev
	TEST_DATABASE=sqlite TEST_BROKER=sqs $(PY) -m pytest -m sqs $(PYTEST_ARGS)

# One run on SQLite and Redis only, for a machine without PostgreSQL or RabbitMQ.
test-quick: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Style, and the layer contract of dashboard/ (docs/architecture.md).
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench: install-dev
	$(PY) bench/csv_campaign.py $(BENCH_ARGS)

# The issue's 100,000-message campaign with 1, 2 and 4 workers on each database + broker pair.
bench-scale: install-dev
	$(PY) bench/scale.py $(BENCH_ARGS)
