# The two commands the README promises: `make up` (main job on the local stack) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv test up down bench pulumi-cli
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

test: venv
	$(PY) -m pytest

up: venv
	./scripts/local-stack up

down: venv
	./scripts/local-stack down

bench: venv
	$(PY) -m bench

pulumi-cli:
	tools/pulumi-cli/build
