# MindPulse: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Local runs only: a generated secret key under var/ and Django's debug pages.
export DEBUG ?= true
# XGBoost's OpenMP threads spin while waiting; passive waiting keeps them from starving
# the web server and the other candidate fits on 2 cores.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: run test lint format bench bench-tables clean

# requirements.txt is the all-in-one (requirements/worker.txt, which includes web.txt); every
# transitive dependency is pinned by constraints.txt, the same lock the images install with.
$(VENV)/.runtime: requirements.txt requirements/web.txt requirements/worker.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap
	$(PY) manage.py serve

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The benchmark (bench/run.py, see the README): needs Postgres and Redis on
# 127.0.0.1 and wrk (installed from Debian's packages when missing and run as root).
# Options: make bench BENCH_ARGS="--runs 5 --only predict,feedback".
bench: $(VENV)/.runtime
	$(PY) -m bench.run $(BENCH_ARGS)

# /metrics, the admin lists and the reports' window at 10,000,000 predictions, in a scratch
# Postgres database (bench/big_tables.py). Options: make bench-tables TABLES_ARGS="--rows 1000000".
bench-tables: $(VENV)/.runtime
	$(PY) -m bench.big_tables $(TABLES_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var .pytest_cache .ruff_cache
