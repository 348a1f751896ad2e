# Quanyu — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
SCALE ?= S
ONLY ?= all
PYTEST_WORKERS ?= 2

.PHONY: install run migrate test lint bench messages clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	touch $@

install: $(VENV)/.installed

migrate: install
	$(MANAGE) migrate --noinput

run: install
	$(MANAGE) bootstrap
	$(BIN)/python -m config.run --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(MANAGE) check
	$(MANAGE) makemigrations --check --dry-run
	$(BIN)/pytest -n $(PYTEST_WORKERS) --create-db $(PYTEST_ARGS)

bench: install
ifeq ($(ONLY),pushes)
	$(BIN)/python -m bench.pushes --scale $(SCALE)
else ifeq ($(ONLY),materialise)
	$(BIN)/python -m bench.materialise --scale $(SCALE)
else ifeq ($(ONLY),journeys)
	$(BIN)/python -m bench.journeys --scale $(SCALE)
else ifeq ($(ONLY),reports)
	$(BIN)/python -m bench.reports --scale $(SCALE)
else
	$(BIN)/python -m bench.run --scale $(SCALE) --only $(ONLY)
	$(if $(filter all,$(ONLY)),$(BIN)/python -m bench.materialise --scale $(SCALE) --reuse)
	$(if $(filter all,$(ONLY)),$(BIN)/python -m bench.reports --scale $(SCALE) --reuse)
	$(if $(filter all,$(ONLY)),$(BIN)/python -m bench.pushes --scale $(SCALE))
	$(if $(filter all,$(ONLY)),$(BIN)/python -m bench.journeys --scale $(SCALE))
endif

messages: install
	$(MANAGE) makemessages -l zh_Hans -l en --ignore=.venv --ignore=var
	$(MANAGE) compilemessages --ignore=.venv

clean:
	rm -rf var $(VENV)
