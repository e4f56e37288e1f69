# Two commands set up a fresh machine and are safe to repeat:
#   make run    install if needed, then run the whole pipeline on the embedded data
#   make test   install if needed, then run the test suite
# and, while working: make test-fast (no pipeline runs, servers or CLI processes) and
# make lint (ruff and mypy; CI runs it before the tests). For a team's ML Metadata:
#   make store       start PostgreSQL on 127.0.0.1 (TAXI_STORE_PORT, default 54329), print its URL
#   make store-stop  stop it
# A Flink cluster on this machine for `runner flink`: make flink / make flink-stop
# (parts cached outside the repository; Java 17, Maven and Go needed the first time).
# Apache Airflow with the pipeline's DAGs: make airflow / make airflow-stop (Airflow in
# a virtualenv of its own under the cache, from requirements-airflow.lock).
# Everything installs into .venv from requirements.lock (Python 3.10, via uv).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=
# Test processes (pytest-xdist, whole files to a process): the suite is mostly
# pipeline runs and servers in subprocesses, each about one core's work.
TEST_WORKERS ?= 2

.PHONY: install run test test-fast lint lock lock-airflow clean flink flink-install flink-stop \
	store store-stop airflow airflow-install airflow-stop

install: $(STAMP)

# uv resolves and installs TFX in seconds where pip backtracks for minutes.
.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Python 3.10: python3.10 on PATH if it runs (a pyenv shim may not), else pyenv's.
# Bytecode compiled at install, as pip does and uv does not by default: where
# PYTHONDONTWRITEBYTECODE is set (as on these machines) every process, each Beam
# worker among them, otherwise compiles TF, TFX and Beam from source again
# (24 s to import them against 9 s; the compile takes 30 s once).
$(STAMP): requirements.lock setup.py | $(UV)
	@python310=; \
	for candidate in python3.10 "$$(pyenv prefix 3.10 2>/dev/null)/bin/python3"; do \
	  if "$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	    python310="$$candidate"; break; \
	  fi; \
	done; \
	if [ -z "$$python310" ]; then \
	  echo "error: Python 3.10 not found. TFX 1.16 needs it: install python3.10 (with venv)" >&2; \
	  echo "       from your OS packages, or run 'pyenv install 3.10'." >&2; exit 1; \
	fi; \
	$(UV) venv --quiet --allow-existing --python "$$python310" $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $@

run: install
	$(PY) -m runner local

test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m 'not e2e and not flink' $(PYTEST_ARGS)

# A PostgreSQL server for ML Metadata on this machine (operations/store_server.py),
# data under ~/.cache/taxi-pipeline/store (TAXI_STORE_DIR); safe to repeat.
store: install
	$(PY) -m runner store start

store-stop: install
	$(PY) -m runner store stop

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# A Flink cluster on 127.0.0.1 (REST on 8081 unless FLINK_REST_PORT says otherwise),
# Beam's job server on 8099 and SDK worker pool on 50000; flink-install fetches and
# builds its parts only (what the tests need; .ci/run does it before them).
flink: install
	$(PY) -m runner flink-cluster start

flink-install: install
	$(PY) -m runner flink-cluster install

flink-stop: install
	$(PY) -m runner flink-cluster stop

# Apache Airflow 2.11 on 127.0.0.1 with the pipeline's DAGs: the scheduler, and the
# webserver with its REST API (ends printing AIRFLOW_HOME, AIRFLOW_URL, AIRFLOW_USER,
# AIRFLOW_PASSWORD); LocalExecutor on the make store server when it runs. airflow-install
# builds Airflow's virtualenv only (what the tests need; .ci/run does it before them).
airflow: install
	$(PY) -m runner airflow start

airflow-install: install
	$(PY) -m runner airflow install

airflow-stop: install
	$(PY) -m runner airflow stop

# Re-resolve the pins after editing requirements.in.
lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.10 requirements.in -o requirements.lock

# Airflow's pins: requirements.in and Airflow, resolved with requirements.lock's pins
# but for what Airflow 2.11 cannot take (werkzeug 3, the OpenTelemetry that needs
# protobuf 5, rich 15): those its own. Run after `make lock`.
AIRFLOW_OWN_PINS := ^(werkzeug|opentelemetry-[a-z-]+|rich)==
lock-airflow: | $(UV)
	@constraints=$$(mktemp); trap 'rm -f "$$constraints"' EXIT; \
	grep -vE '$(AIRFLOW_OWN_PINS)' requirements.lock > "$$constraints"; \
	$(UV) pip compile --quiet --python-version 3.10 --no-header --no-annotate requirements-airflow.in \
	  -c "$$constraints" -o requirements-airflow.lock

clean:
	rm -rf $(VENV) .tools tfx_home
