# MindPulse: `make run` starts everything, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Local runs only: a generated secret key under var/ and Django's debug pages.
export DEBUG ?= true
# XGBoost's OpenMP threads spin while waiting; passive waiting keeps them from starving
# the web server and the other candidate fits on 2 cores.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: run test test-quick lint format bench bench-tables clean

# requirements.txt is the all-in-one (requirements/worker.txt, which includes web.txt); every
# transitive dependency is pinned by constraints.txt, the same lock the images install with.
$(VENV)/.runtime: requirements.txt requirements/web.txt requirements/worker.txt constraints.txt
	@echo "==> [1/4] Installing Python packages into $(VENV) (first run: a few minutes)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -r requirements.txt -c constraints.txt
	touch $@

# Local settings for every `.venv/bin/python manage.py ...` of the README (manage.py reads
# this file; set variables win). Written once; production sets its real environment instead.
.env:
	@printf '%s\n' '# Written by `make run` for this checkout: manage.py reads it (set variables win).' \
		'# Production sets its variables in the real environment instead (see .env.example).' \
		'DEBUG=true' > $@
	@echo "==> Wrote .env (DEBUG=true) so that the README's manage.py commands run locally"

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

run: $(VENV)/.runtime .env
	@echo "==> [2/4] Creating or updating the database tables"
	@$(PY) manage.py migrate --noinput
	@echo "==> [3/4] Students and a first model, when there are none yet"
	@$(PY) manage.py bootstrap
	@echo "==> [4/4] Starting web, worker and beat"
	@$(PY) manage.py serve

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The fast loop (docs/development.md): no Celery worker process, no browser, no fault injection,
# no test that needs the real Postgres or Redis (markers in pyproject.toml); on SQLite and the
# file-system broker whatever the shell exports. `make test` stays the whole suite.
QUICK_MARKERS := not worker and not browser and not faults and not services
test-quick: $(VENV)/.dev
	env -u DATABASE_URL -u CELERY_BROKER_URL -u CELERY_BROKER_WRITE_URL \
		MINDPULSE_REQUIRE_SERVICES= MINDPULSE_REQUIRE_BROWSER= \
		$(PY) -m pytest -q -m "$(QUICK_MARKERS)" $(PYTEST_ARGS)

# The benchmark (bench/run.py, see the README): needs Postgres and Redis on
# 127.0.0.1 and wrk (installed from Debian's packages when missing and run as root).
# Options: make bench BENCH_ARGS="--runs 5 --only predict,feedback".
bench: $(VENV)/.runtime
	$(PY) -m bench.run $(BENCH_ARGS)

# The loop over time (issue 12, bench/simulate.py): full-length simulations, timed; charts to
# docs/loop-<scenario>.svg. Options: make bench-loop BENCH_LOOP_ARGS="--days 30".
.PHONY: bench-loop
bench-loop: $(VENV)/.runtime
	$(PY) -m bench.simulate $(BENCH_LOOP_ARGS)

# /metrics, the admin lists and the reports' window at 10,000,000 predictions, in a scratch
# Postgres database (bench/big_tables.py). Options: make bench-tables TABLES_ARGS="--rows 1000000".
bench-tables: $(VENV)/.runtime
	$(PY) -m bench.big_tables $(TABLES_ARGS)

# ruff (rules in pyproject.toml) and mypy with django-stubs over the modules listed in
# pyproject.toml's [tool.mypy]; .pre-commit-config.yaml runs the same three.
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy

format: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
